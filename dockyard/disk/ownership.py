"""What dockyard owns on a host, so a prune removes that and nothing else.

Containers: those whose compose project label is one of the config's stacks (matched
positively, and in that stack's directory); never a stand-alone container or another
project's. Images: those a release record of one of the config's stacks names, whose every
repository is one those records name (a neighbour's tag on the same image keeps it); never
one a container uses, one the deploy now runs, or one of any stack's kept releases."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from dockyard.commands.hoststate.paths import HostState
from dockyard.config import DeployConfig, StackConfig
from dockyard.deadline import Deadline
from dockyard.disk.inventory import EngineContainer, EngineImage
from dockyard.host import releases
from dockyard.host.releases import Release
from dockyard.images.ref import ImageRef, InvalidImageRef, matches_local
from dockyard.runner import Runner

_IMAGE_ID = re.compile(r"(?:sha256:)?([0-9a-f]{12,64})")


@dataclass(frozen=True, slots=True)
class ImageSelector:
    """A set of image references and/or IDs; an image matches if any entry names it.

    A reference matches RepoTags/RepoDigests after normalisation (`matches_local`); a
    tag@digest reference also matches the same repository:tag. A hex string of 12+ digits
    (with or without "sha256:") matches images whose ID starts with it.
    """

    refs: tuple[ImageRef, ...] = ()
    id_prefixes: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls, entries: Iterable[str], *, strict: bool = True, bare_ids: bool = True
    ) -> ImageSelector:
        """Read `entries`; an entry that is neither raises InvalidImageRef unless not `strict`.
        Without `bare_ids`, only "sha256:<hex>" reads as an ID (a hex name is a repository)."""
        if isinstance(entries, str):
            raise TypeError("entries must be a collection of references or IDs, not one string")
        refs: list[ImageRef] = []
        ids: list[str] = []
        for entry in entries:
            id_match = _IMAGE_ID.fullmatch(entry)
            if id_match and (bare_ids or entry.startswith("sha256:")):
                ids.append(id_match.group(1))
                if entry.startswith("sha256:"):
                    continue
            try:
                ref = ImageRef.parse(entry)
            except InvalidImageRef:
                if strict and not id_match:
                    raise
                continue
            refs.append(ref)
            if ref.digest and ref.tag and not ref.tag_implicit:
                refs.append(replace(ref, digest=None))
        return cls(tuple(refs), tuple(ids))

    def matches(self, image: EngineImage) -> bool:
        """Whether any entry names `image`."""
        if self.matches_id(image):
            return True
        return any(matches_local(ref, image.repo_digests, image.repo_tags) for ref in self.refs)

    def matches_id(self, image: EngineImage) -> bool:
        """Whether an ID entry names `image`."""
        hex_id = image.id.removeprefix("sha256:")
        return any(hex_id.startswith(prefix) for prefix in self.id_prefixes)

    @property
    def repositories(self) -> frozenset[str]:
        return frozenset(ref.name for ref in self.refs)


@dataclass(frozen=True, slots=True)
class OwnStack:
    """One of the config's stacks on this host, with its release history there."""

    project: str
    remote_dir: str
    history: tuple[Release, ...] = ()

    def owns(self, container: EngineContainer) -> bool:
        """The container is of this compose project, created from this stack's directory."""
        here = container.working_dir
        inside = here == self.remote_dir or here.startswith(self.remote_dir.rstrip("/") + "/")
        return container.project == self.project and inside


@dataclass(frozen=True, slots=True)
class Ownership:
    """Which containers and images on one host are dockyard's, and which of them it keeps."""

    stacks: tuple[OwnStack, ...]
    recorded: ImageSelector
    kept: ImageSelector

    @classmethod
    def of(
        cls, stacks: Iterable[OwnStack], protected: Iterable[str], keep_releases: int
    ) -> Ownership:
        """`protected`: what the deploy runs now (references or IDs); every stack's last
        `keep_releases` succeeded releases are kept too."""
        stacks = tuple(stacks)
        recorded = [
            image
            for stack in stacks
            for release in stack.history
            for image in (*release.images.values(), *release.variables.values())
        ]
        kept = {d for s in stacks for d in releases.kept_digests(list(s.history), keep_releases)}
        return cls(
            stacks,
            ImageSelector.parse(recorded, strict=False, bare_ids=False),
            ImageSelector.parse([*protected, *sorted(kept)]),
        )

    def owns_container(self, container: EngineContainer) -> bool:
        return any(stack.owns(container) for stack in self.stacks)

    def owns_image(self, image: EngineImage) -> bool:
        """A release record names it by ID (what dockyard ran, exactly), or by reference and
        no repository it is in is one the records do not name (a neighbour's tag keeps it)."""
        if self.recorded.matches_id(image):
            return True
        if not self.recorded.matches(image):
            return False
        return image.repositories <= self.recorded.repositories

    @property
    def projects(self) -> frozenset[str]:
        return frozenset(stack.project for stack in self.stacks)


def read_ownership(
    runner: Runner, config: DeployConfig, protected: Iterable[str], deadline: Deadline
) -> Ownership:
    """What dockyard owns on `runner`'s host: the config's stacks with their release histories
    there, keeping `protected` and every stack's last `disk.keep_releases`."""
    stacks = _read_stacks(runner, config.stacks, deadline)
    return Ownership.of(stacks, protected, config.disk.keep_releases)


def _read_stacks(
    runner: Runner, stacks: Iterable[StackConfig], deadline: Deadline
) -> list[OwnStack]:
    found = []
    for stack in stacks:
        deadline.check(f"reading the release history of {stack.project}")
        history = releases.read_all(runner, HostState(stack.remote_dir), deadline)
        found.append(OwnStack(stack.project, stack.remote_dir, tuple(history)))
    return found
