"""Pin a compose file's images to tag@digest, rewriting only the image values in place."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from dockyard.images.ref import DEFAULT_TAG, ImageRef, InvalidImageRef
from dockyard.lint import ComposeFileError, ImageEntry, image_entries


def pin_compose(path: str | os.PathLike[str], resolve: Callable[[ImageRef], str]) -> str:
    """The compose file's text with each tagged image rewritten to `tag@digest`.

    `resolve` gives the registry digest of a reference (RegistryClient.manifest_digest).
    An implicit tag becomes explicit (`busybox` -> `busybox:latest@sha256:...`). Images that
    contain variables or already carry a digest are left alone. Every other byte of the file
    is kept as it is.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeFileError(f"cannot read {file}: {exc}") from None
    spans: dict[tuple[int, int], str] = {}
    for entry in image_entries(text, str(file)):
        if (entry.start, entry.end) in spans or "$" in entry.value:
            continue
        try:
            ref = ImageRef.parse(entry.value)
        except InvalidImageRef as exc:
            raise ComposeFileError(f"{file}:{entry.line}: service {entry.service}: {exc}") from None
        if ref.digest is not None:
            continue
        suffix = f":{DEFAULT_TAG}" if ref.tag_implicit else ""
        pinned = f"{entry.value}{suffix}@{resolve(ref)}"
        spans[(entry.start, entry.end)] = _scalar(entry, text, pinned, str(file))
    for (start, end), replacement in sorted(spans.items(), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def _scalar(entry: ImageEntry, text: str, value: str, file: str) -> str:
    """`value` written in the style of the original scalar, which must be on one line."""
    raw = text[entry.start : entry.end]
    quote = {"'": "'", '"': '"', None: ""}.get(entry.style)
    if quote is None or raw != f"{quote}{entry.value}{quote}":
        raise ComposeFileError(
            f"{file}:{entry.line}: service {entry.service}: cannot rewrite this image value in"
            " place; write it on one line, plain or quoted, without escapes"
        )
    return f"{quote}{value}{quote}"
