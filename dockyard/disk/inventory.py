"""What is on the engine: every image and container as inspect shows them, read in one command."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dockyard.commands import disk as commands
from dockyard.deadline import Deadline
from dockyard.disk.gate import DiskReadError
from dockyard.images.ref import ImageRef, InvalidImageRef
from dockyard.runner import Runner

COMPOSE_PROJECT_LABEL = "com.docker.compose.project"
COMPOSE_DIR_LABEL = "com.docker.compose.project.working_dir"
STOPPED = frozenset({"created", "exited", "dead"})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EngineImage:
    """One image on the engine."""

    id: str
    repo_tags: tuple[str, ...] = ()
    repo_digests: tuple[str, ...] = ()
    parent: str = ""
    size: int = 0

    @property
    def label(self) -> str:
        """How to name the image to a person: its first tag or digest, else its short ID."""
        names = (*self.repo_tags, *self.repo_digests)
        return names[0] if names else self.id.removeprefix("sha256:")[:12]

    @property
    def repositories(self) -> frozenset[str]:
        """The normalised repositories its tags and digests are in ("<none>" ones skipped)."""
        return frozenset(_names((*self.repo_tags, *self.repo_digests)))

    def removal_refs(self) -> list[str]:
        """What `docker image rm` (never -f) takes to delete this image and every reference.

        Its ID when the engine allows that without force (at most one tag, one repository);
        otherwise each tag plus the digests of repositories without a tag: removing a
        repository's last tag drops its digests too, and the last reference deletes the image.
        """
        repos = {_repository(ref) for ref in (*self.repo_tags, *self.repo_digests)}
        if len(self.repo_tags) <= 1 and len(repos) <= 1:
            return [self.id]
        tagged = {_repository(tag) for tag in self.repo_tags}
        loose = [d for d in self.repo_digests if _repository(d) not in tagged]
        return [*self.repo_tags, *loose]


@dataclass(frozen=True, slots=True)
class EngineContainer:
    """One container on the engine: its image ID, state and labels (size with --size only)."""

    id: str
    name: str
    image: str
    status: str
    labels: Mapping[str, str] = field(default_factory=dict)
    size_rw: int = 0

    @property
    def project(self) -> str | None:
        """Its compose project, or None for a stand-alone container."""
        return self.labels.get(COMPOSE_PROJECT_LABEL)

    @property
    def working_dir(self) -> str:
        return self.labels.get(COMPOSE_DIR_LABEL, "")

    @property
    def stopped(self) -> bool:
        return self.status in STOPPED


@dataclass(frozen=True)
class Inventory:
    """Every image and container on the engine at one moment."""

    images: tuple[EngineImage, ...]
    containers: tuple[EngineContainer, ...]

    @property
    def in_use(self) -> frozenset[str]:
        """IDs of the images any container (running or not, any project) was created from."""
        return frozenset(c.image for c in self.containers)

    @property
    def parents(self) -> frozenset[str]:
        """IDs of images another image is built on (the child goes first)."""
        return frozenset(i.parent for i in self.images if i.parent)

    def without_image(self, image_id: str) -> Inventory:
        """This inventory after the image `image_id` was removed."""
        return Inventory(tuple(i for i in self.images if i.id != image_id), self.containers)


def read_inventory(runner: Runner, deadline: Deadline, *, sizes: bool = False) -> Inventory:
    """List and inspect every image and container (one command); with `sizes`, containers'
    writable layers. One removed since it was listed makes inspect exit 1 after printing the
    others: that is not an error, a failed inspect that printed nothing is."""
    done = runner.run(commands.inventory(sizes=sizes), deadline=deadline, quiet=True)
    sections = _sections(done.stdout)
    if len(sections) != 2:
        raise DiskReadError(f"unexpected inventory output {done.stdout[-200:]!r}")
    (image_lines, image_status), (container_lines, container_status) = sections
    images = _parse(image_lines, image_status, _image, "image", done.stderr)
    containers = _parse(container_lines, container_status, _container, "container", done.stderr)
    return Inventory(tuple(images), tuple(containers))


def _sections(output: str) -> list[tuple[str, str]]:
    """(lines, inspect status) of each INSPECT_STATUS-ended section of inventory()'s output."""
    sections, lines = [], []
    for line in output.splitlines():
        if line.startswith(commands.INSPECT_STATUS):
            sections.append(("\n".join(lines), line.removeprefix(commands.INSPECT_STATUS).strip()))
            lines = []
        else:
            lines.append(line)
    return sections


def _parse(
    output: str, status: str, parse: Callable[[Mapping[str, Any]], T], what: str, stderr: str
) -> list[T]:
    """One object per JSON line of inspect output (IMAGE_FORMAT / CONTAINER_FORMAT)."""
    found = []
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            found.append(parse(item))
        except (ValueError, KeyError, TypeError) as exc:
            raise DiskReadError(f"unexpected {what} inspect line {line[:200]!r}: {exc}") from exc
    if status != "0" and not found:
        raise DiskReadError(f"docker {what} inspect exited {status}: {stderr.strip()[:300]}")
    return found


def _image(item: Mapping[str, Any]) -> EngineImage:
    return EngineImage(
        id=str(item["Id"]),
        repo_tags=tuple(item.get("RepoTags") or ()),
        repo_digests=tuple(item.get("RepoDigests") or ()),
        parent=str(item.get("Parent") or ""),
        size=int(item.get("Size") or 0),
    )


def _container(item: Mapping[str, Any]) -> EngineContainer:
    return EngineContainer(
        id=str(item["Id"]),
        name=str(item.get("Name") or "").removeprefix("/"),
        image=str(item["Image"]),
        status=str(item.get("Status") or ""),
        labels=dict(item.get("Labels") or {}),
        size_rw=int(item.get("SizeRw") or 0),
    )


def _names(refs: Iterable[str]) -> Iterable[str]:
    for ref in refs:
        try:
            yield ImageRef.parse(ref).name
        except InvalidImageRef:
            continue


def _repository(ref: str) -> str:
    """The repository part of a RepoTag/RepoDigest as docker prints it."""
    name = ref.partition("@")[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.partition(':')[0]}" if head else last.partition(":")[0]
