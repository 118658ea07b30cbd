"""Pin a compose file's images to tag@digest, rewriting only the image values in place."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dockyard.compose_files import LOCAL_PULL_POLICIES, ComposeFileError, problem, read
from dockyard.images.errors import RegistryError
from dockyard.images.ref import DEFAULT_TAG, ImageRef, InvalidImageRef

_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")


class PinFailed(ComposeFileError):
    """The registry could not give a digest for an image; `transient` when a retry can help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class ImageEntry:
    """Where a service's `image:` value sits in the file text (the scalar, quotes included)."""

    service: str
    value: str
    line: int
    start: int
    end: int
    style: str | None


def image_entries(path: Path) -> tuple[str, list[ImageEntry]]:
    """The file's text and the image scalar of every service it pulls (merged images too;
    services built locally left out)."""
    doc = read(path)
    entries = []
    for service in doc.services.values():
        node = service.image
        local = service.pull_policy in LOCAL_PULL_POLICIES
        if node is None or local:
            continue
        raw = doc.text[node.start_mark.index : node.end_mark.index]
        start = node.start_mark.index + _PROPERTIES.match(raw).end()  # type: ignore[union-attr]
        line = node.start_mark.line + 1
        entries.append(
            ImageEntry(service.name, node.value, line, start, node.end_mark.index, node.style)
        )
    return doc.text, entries


@dataclass(frozen=True)
class PinReport:
    """What `pin` did to a file: the new text, and each image it could not pin (and why)."""

    text: str
    skipped: tuple[str, ...] = ()
    failed: tuple[PinFailed, ...] = ()

    @property
    def exit_code(self) -> int:
        """0 all pinned; 2 an image the registry does not know (or bad input); 1 otherwise
        (a registry to retry, or images given through variables)."""
        if any(not f.transient for f in self.failed):
            return 2
        return 1 if self.failed or self.skipped else 0

    def problems(self) -> list[str]:
        """One line per image left unpinned."""
        return [*self.skipped, *(str(f) for f in self.failed)]


def pin_compose(path: str | os.PathLike[str], resolve: Callable[[ImageRef], str]) -> str:
    """The compose file's text with each tagged image rewritten to `tag@digest`; raises the
    first PinFailed (see `pin_report`, which goes on past failures)."""
    report = pin_report(path, resolve)
    if report.failed:
        raise report.failed[0]
    return report.text


def pin_report(path: str | os.PathLike[str], resolve: Callable[[ImageRef], str]) -> PinReport:
    """The compose file's text with each tagged image rewritten to `tag@digest`, and every
    image it could not pin.

    `resolve` gives the registry digest of a reference (RegistryClient.manifest_digest).
    An implicit tag becomes explicit (`busybox` -> `busybox:latest@sha256:...`). Images that
    already carry a digest are left alone; images written with variables are skipped and
    named (pin the value where it is set); a registry that fails for one image does not stop
    the others. Every other byte of the file is kept as it is. Raises ComposeFileError for a
    file that cannot be read or an image value that is not a reference.
    """
    file = Path(path)
    text, entries = image_entries(file)
    spans: dict[tuple[int, int], str] = {}
    skipped: dict[str, list[str]] = {}
    failed: list[PinFailed] = []
    for entry in entries:
        if (entry.start, entry.end) in spans:
            continue
        if "$" in entry.value:
            skipped.setdefault(entry.value, []).append(entry.service)
            continue
        try:
            ref = ImageRef.parse(entry.value)
        except InvalidImageRef as exc:
            raise problem(
                file, entry.line, f"service {entry.service}: {exc}", "fix the image reference"
            ) from None
        if ref.digest is not None:
            continue
        try:
            digest = _digest(resolve, ref, file, entry)
        except PinFailed as exc:
            failed.append(exc)
            continue
        suffix = f":{DEFAULT_TAG}" if ref.tag_implicit else ""
        spans[(entry.start, entry.end)] = _scalar(
            entry, text, f"{entry.value}{suffix}@{digest}", file
        )
    for (start, end), replacement in sorted(spans.items(), reverse=True):
        text = text[:start] + replacement + text[end:]
    notes = tuple(
        f"{file}: {'service' if len(names) == 1 else 'services'} {', '.join(names)}: {value}: "
        "not pinned: the image is set through a variable; pin the value where it is set "
        "(the .env or stacks[].env) as tag@digest"
        for value, names in skipped.items()
    )
    return PinReport(text, notes, tuple(failed))


def _digest(
    resolve: Callable[[ImageRef], str], ref: ImageRef, file: Path, entry: ImageEntry
) -> str:
    try:
        return resolve(ref)
    except RegistryError as exc:
        fix = (
            "check that the registry is reachable and retry"
            if exc.transient
            else "check the image name and tag, and the registry credentials"
        )
        where = f"{file}:{entry.line}"
        raise PinFailed(
            f"{where}: service {entry.service}: cannot pin {entry.value}: {exc}; {fix}",
            transient=exc.transient,
        ) from None


def _scalar(entry: ImageEntry, text: str, value: str, file: Path) -> str:
    """`value` written in the style of the original scalar, which must be on one line."""
    raw = text[entry.start : entry.end]
    quote = {"'": "'", '"': '"', None: ""}.get(entry.style)
    if quote is None or raw != f"{quote}{entry.value}{quote}":
        raise problem(
            file, entry.line,
            f"service {entry.service}: cannot rewrite this image value in place",
            "write it on one line, plain or quoted, without escapes",
        )  # fmt: skip
    return f"{quote}{value}{quote}"
