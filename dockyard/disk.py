"""The disk gate on the engine's data root, and a stepwise prune that never forces a re-pull."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from dockyard.errors import DeployError, DiskPressure
from dockyard.images.ref import ImageRef, InvalidImageRef, matches_local

Run = Callable[[str], str]
"""Runs a shell command on the target host and returns stdout; raises on a non-zero exit."""

GB = 1_000_000_000
COMPOSE_PROJECT_LABEL = "com.docker.compose.project"

_IMAGE_ID = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")


class DiskReadError(DeployError):
    """`df` or the docker CLI printed something this module cannot read."""


class PruneStep(StrEnum):
    """The prune steps, in the order they run (cheapest loss first)."""

    DANGLING_IMAGES = "dangling-images"
    BUILD_CACHE = "build-cache"
    STOPPED_CONTAINERS = "stopped-containers"
    UNREFERENCED_IMAGES = "unreferenced-images"


@dataclass(frozen=True, slots=True)
class DiskStatus:
    """Free and total bytes of the filesystem holding the data root, and its used %."""

    free_bytes: int
    total_bytes: int
    used_pct: float

    @classmethod
    def parse_df(cls, output: str) -> DiskStatus:
        """Read `df -B1 --output=avail,size,pcent` output (a header line, then one row)."""
        lines = output.strip().splitlines()
        row = lines[-1].split() if len(lines) == 2 else []
        try:
            free, total, pct = row
            used = 0.0 if pct == "-" else float(pct.removesuffix("%"))
            return cls(free_bytes=int(free), total_bytes=int(total), used_pct=used)
        except ValueError as exc:
            raise DiskReadError(f"unexpected df output: {output.strip()!r}") from exc

    def __str__(self) -> str:
        return (
            f"{_size(self.free_bytes)} free of {_size(self.total_bytes)}, {self.used_pct:g}% used"
        )


@dataclass(frozen=True, slots=True)
class DiskGate:
    """Deploy only with at least `min_free_gb` (10^9 bytes) free and at most `max_used_pct` used."""

    min_free_gb: float
    max_used_pct: float

    def passes(self, status: DiskStatus) -> bool:
        """Whether `status` meets both thresholds."""
        return not self._failures(status)

    def reason(self, status: DiskStatus) -> str:
        """Why the gate fails ("12.3 GB free < 15 GB"), or that it passes and by how much."""
        if failures := self._failures(status):
            return "; ".join(failures)
        return (
            f"{_gb(status.free_bytes)} free >= {self.min_free_gb:g} GB, "
            f"{status.used_pct:g}% used <= {self.max_used_pct:g}%"
        )

    def _failures(self, status: DiskStatus) -> list[str]:
        failures = []
        if status.free_bytes < self.min_free_gb * GB:
            failures.append(f"{_gb(status.free_bytes)} free < {self.min_free_gb:g} GB")
        if status.used_pct > self.max_used_pct:
            failures.append(f"{status.used_pct:g}% used > {self.max_used_pct:g}%")
        return failures


@dataclass(frozen=True, slots=True)
class EngineImage:
    """One image on the engine, as `docker image inspect` shows it."""

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

    def remove_command(self) -> str:
        """`docker rmi` (never -f) that deletes this image and every reference to it.

        By ID when the engine allows that without force (at most one tag, one repository);
        otherwise by each tag plus the digests of repositories without a tag: removing a
        repository's last tag drops its digests too, and the last reference deletes the image.
        --no-prune leaves untagged parents for the prune to weigh (and count) on their own.
        """
        repos = {_repository(ref) for ref in (*self.repo_tags, *self.repo_digests)}
        if len(self.repo_tags) <= 1 and len(repos) <= 1:
            return f"docker rmi --no-prune {self.id}"
        tagged = {_repository(tag) for tag in self.repo_tags}
        loose = [d for d in self.repo_digests if _repository(d) not in tagged]
        refs = " ".join(shlex.quote(ref) for ref in (*self.repo_tags, *loose))
        return f"docker rmi --no-prune {refs}"


@dataclass(frozen=True, slots=True)
class ImageSelector:
    """A set of image references and/or IDs; an image matches if any entry names it.

    A reference matches RepoTags/RepoDigests after normalisation (`matches_local`); a
    tag@digest reference also matches the same repository:tag. A hex string (with or without
    "sha256:") matches images whose ID starts with it. Over-matching only keeps more images.
    """

    refs: tuple[ImageRef, ...] = ()
    id_prefixes: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], *, strict: bool = True) -> ImageSelector:
        """Read `entries`; an entry that is neither raises InvalidImageRef unless not `strict`."""
        if isinstance(entries, str):
            raise TypeError("entries must be a collection of references or IDs, not one string")
        refs: list[ImageRef] = []
        ids: list[str] = []
        for entry in entries:
            if id_match := _IMAGE_ID.fullmatch(entry):
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
        hex_id = image.id.removeprefix("sha256:")
        if any(hex_id.startswith(prefix) for prefix in self.id_prefixes):
            return True
        return any(matches_local(ref, image.repo_digests, image.repo_tags) for ref in self.refs)


@dataclass
class PruneReport:
    """What `ensure_space` did: bytes freed per step, images removed (IDs), and the outcome."""

    steps: list[tuple[PruneStep, int]]
    removed_images: list[str]
    passed: bool
    before: DiskStatus
    after: DiskStatus


def docker_root_dir(run: Run) -> str:
    """The engine's data root (where images and containers live)."""
    root = run("docker info --format '{{.DockerRootDir}}'").strip()
    if not root.startswith("/"):
        raise DiskReadError(f"docker info printed no data root: {root!r}")
    return root


def disk_status(run: Run, data_root: str) -> DiskStatus:
    """Free space and used % of the filesystem that holds `data_root`."""
    return DiskStatus.parse_df(run(f"df -B1 --output=avail,size,pcent {shlex.quote(data_root)}"))


def parse_image_inspect(output: str) -> list[EngineImage]:
    """Images from `docker image inspect` JSON (an array of objects)."""
    try:
        raw = json.loads(output)
    except json.JSONDecodeError as exc:
        raise DiskReadError(f"docker image inspect printed no JSON: {exc}") from exc
    if not isinstance(raw, list):
        raise DiskReadError("docker image inspect printed JSON that is not a list")
    return [_engine_image(item) for item in raw]


def list_images(run: Run) -> list[EngineImage]:
    """Every image on the engine, intermediate ones included (their parents matter)."""
    ids = sorted(set(run("docker image ls -aq --no-trunc").split()))
    if not ids:
        return []
    return parse_image_inspect(run("docker image inspect " + " ".join(map(shlex.quote, ids))))


def images_in_use(run: Run, images: Iterable[EngineImage]) -> set[str]:
    """IDs of the images that any container (running or not, any project) was created from.

    `docker ps` prints each container's image as it was given (e.g. "redis", a short ID) when
    that still names the container's image, else the image ID; every reading is counted.
    """
    selector = ImageSelector.parse(
        run("docker ps -a --no-trunc --format '{{.Image}}'").split(), strict=False
    )
    return {image.id for image in images if selector.matches(image)}


def removable(
    images: Collection[EngineImage],
    in_use: Collection[str],
    protected: ImageSelector,
    *,
    untagged_only: bool = False,
) -> list[EngineImage]:
    """Images a prune may remove now, largest first.

    Never one a container uses, one `protected` names, or the parent of another image
    (the child goes first). With `untagged_only`, only images without a tag (what the engine
    calls dangling, which includes images pulled by digest).
    """
    parents = {image.parent for image in images if image.parent}
    chosen = [
        image
        for image in images
        if image.id not in in_use
        and image.id not in parents
        and not (untagged_only and image.repo_tags)
        and not protected.matches(image)
    ]
    return sorted(chosen, key=lambda image: (-image.size, image.id))


def ensure_space(
    run: Run,
    data_root: str,
    gate: DiskGate,
    *,
    protected: Collection[str],
    project: str,
    say: Callable[[str], None],
) -> PruneReport:
    """Make the gate pass, pruning step by step and stopping as soon as it does.

    `protected` holds the references (name:tag, name@digest, name:tag@digest) and/or image IDs
    of the stack now and of the releases to keep; no image they name is removed, nor one any
    container uses. Stopped containers of `project` are kept. Raises DiskPressure when the
    gate still fails after every step.
    """
    keep = ImageSelector.parse(protected)
    before = disk_status(run, data_root)
    report = PruneReport([], [], gate.passes(before), before, before)
    if report.passed:
        return report
    say(f"disk gate fails on {data_root}: {gate.reason(before)}; pruning")
    for step in PruneStep:
        start = report.after
        if step in (PruneStep.DANGLING_IMAGES, PruneStep.UNREFERENCED_IMAGES):
            _remove_images(run, data_root, gate, keep, report, say, step)
        else:
            run(_prune_command(step, project))
            report.after = disk_status(run, data_root)
        freed = max(0, report.after.free_bytes - start.free_bytes)
        report.steps.append((step, freed))
        report.passed = gate.passes(report.after)
        say(f"{step}: freed {_size(freed)}; now {report.after}")
        if report.passed:
            say(f"disk gate passes: {gate.reason(report.after)}")
            return report
    raise DiskPressure(
        f"disk gate still fails on {data_root} after every prune step: {gate.reason(report.after)}"
        f" (was {report.before}, now {report.after}; removed {len(report.removed_images)}"
        " unreferenced images, kept those of the stack and of the kept releases). Free space on"
        " the host, or lower the thresholds under disk: (min_free_gb, max_used_pct)"
    )


def remove_dangling(run: Run, protected: Collection[str], say: Callable[[str], None]) -> list[str]:
    """The cleanup step: remove untagged images that no container uses and `protected` does not
    name (never `docker image prune`, which also deletes images pulled by digest)."""
    keep = ImageSelector.parse(protected)
    images = list_images(run)
    in_use = images_in_use(run, images)
    removed = []
    for image in removable(images, in_use, keep, untagged_only=True):
        run(image.remove_command())
        removed.append(image.id)
        say(f"removed dangling image {image.label} ({_size(image.size)})")
    return removed


def _remove_images(
    run: Run,
    data_root: str,
    gate: DiskGate,
    keep: ImageSelector,
    report: PruneReport,
    say: Callable[[str], None],
    step: PruneStep,
) -> None:
    """Remove candidate images one by one, re-checking the gate after each."""
    images = {image.id: image for image in list_images(run)}
    in_use = images_in_use(run, images.values())
    untagged_only = step is PruneStep.DANGLING_IMAGES
    while candidates := removable(images.values(), in_use, keep, untagged_only=untagged_only):
        image = candidates[0]
        run(image.remove_command())
        del images[image.id]
        report.removed_images.append(image.id)
        report.after = disk_status(run, data_root)
        say(f"removed image {image.label} ({_size(image.size)}); now {report.after}")
        if gate.passes(report.after):
            return


def _prune_command(step: PruneStep, project: str) -> str:
    if step is PruneStep.BUILD_CACHE:
        return "docker builder prune -f"
    own = shlex.quote(f"label!={COMPOSE_PROJECT_LABEL}={project}")
    return f"docker container prune -f --filter {own}"


def _engine_image(item: Mapping[str, Any]) -> EngineImage:
    try:
        return EngineImage(
            id=str(item["Id"]),
            repo_tags=tuple(item.get("RepoTags") or ()),
            repo_digests=tuple(item.get("RepoDigests") or ()),
            parent=str(item.get("Parent") or ""),
            size=int(item.get("Size") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise DiskReadError(f"unexpected image inspect entry: {exc!r}") from exc


def _repository(ref: str) -> str:
    """The repository part of a RepoTag/RepoDigest as docker prints it."""
    name = ref.partition("@")[0]
    head, _, last = name.rpartition("/")
    return f"{head}/{last.partition(':')[0]}" if head else last.partition(":")[0]


def _gb(n: int) -> str:
    return f"{n / GB:.1f} GB"


def _size(n: int) -> str:
    for unit, scale in (("GB", GB), ("MB", 1_000_000), ("kB", 1_000)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
