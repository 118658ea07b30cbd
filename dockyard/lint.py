"""Lint a compose file's images: no tag, mutable or moving tags, variables resolving to nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from dockyard.images.ref import DEFAULT_TAG, ImageKind, ImageRef, InvalidImageRef, classify

Level = Literal["error", "info"]

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_WHOLE_VARIABLE = re.compile(
    rf"\$(?:(?P<plain>{_NAME})|\{{(?P<braced>{_NAME})(?:[:]?[-?+][^}}]*)?\}})"
)
_NAME_RE = re.compile(_NAME)
_EXPRESSION = re.compile(rf"(?P<name>{_NAME})(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)
_PROPERTIES = re.compile(r"(?:[&!]\S*\s+)*")
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ComposeFileError(ValueError):
    """The compose file cannot be read as a compose file (or an image line cannot be rewritten)."""


@dataclass(frozen=True)
class Finding:
    """One problem with one service's image; `level` "info" is reported but does not fail lint."""

    file: str
    service: str
    image: str
    problem: str
    level: Level = "error"
    line: int | None = None

    @property
    def failing(self) -> bool:
        return self.level == "error"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.level}: service {self.service}: {self.image}: {self.problem}"


@dataclass(frozen=True)
class ImageEntry:
    """Where a service's `image:` value sits in the file text (the scalar, quotes included)."""

    service: str
    value: str
    line: int
    start: int
    end: int
    style: str | None


def lint_compose(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    moving_tags: Collection[str] = (),
) -> list[Finding]:
    """Findings for every service image in the compose file at `path`, in file order.

    Variables resolve as compose resolves them: from `environ` (default: the process
    environment) over the `.env` file next to the compose file. An image that is a single
    variable (`${APP_IMAGE}`) is given per deploy and reported as info.
    """
    file = Path(path)
    text = _read(file)
    variables = {**_dotenv(file.parent / ".env"), **(os.environ if environ is None else environ)}
    findings = []
    for entry in image_entries(text, str(file)):
        problem, level = _problem(entry.value, variables, moving_tags)
        if problem:
            findings.append(
                Finding(str(file), entry.service, entry.value, problem, level, entry.line)
            )
    return findings


def image_entries(text: str, file: str = "<compose>") -> list[ImageEntry]:
    """Every service's image scalar, with its position; merged (`<<:`) images included."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ComposeFileError(f"{file}: not valid YAML: {exc}") from None
    services = _get(root, "services") if isinstance(root, yaml.MappingNode) else None
    if not isinstance(services, yaml.MappingNode):
        raise ComposeFileError(f"{file}: no services mapping; is this a compose file?")
    entries = []
    for key, spec in services.value:
        node = _get(spec, "image") if isinstance(spec, yaml.MappingNode) else None
        if node is None:
            continue
        if not isinstance(node, yaml.ScalarNode):
            line = node.start_mark.line + 1
            raise ComposeFileError(f"{file}:{line}: service {key.value}: image is not a string")
        raw = text[node.start_mark.index : node.end_mark.index]
        start = node.start_mark.index + _PROPERTIES.match(raw).end()  # type: ignore[union-attr]
        line = node.start_mark.line + 1
        entries.append(
            ImageEntry(key.value, node.value, line, start, node.end_mark.index, node.style)
        )
    return entries


def whole_variable(value: str) -> str | None:
    """The variable name when the image is exactly one variable reference (per deploy)."""
    match = _WHOLE_VARIABLE.fullmatch(value.strip())
    return (match.group("plain") or match.group("braced")) if match else None


def _problem(
    value: str, variables: Mapping[str, str], moving_tags: Collection[str]
) -> tuple[str | None, Level]:
    if name := whole_variable(value):
        return f"set per deploy by ${{{name}}}; verified in its registry at deploy time", "info"
    try:
        resolved, empty = interpolate(value, variables)
    except ComposeFileError as exc:
        return str(exc), "error"
    if empty:
        names = ", ".join(f"${{{n}}}" for n in empty)
        return f"variable {names} resolves to nothing (the image would be {resolved!r})", "error"
    try:
        ref = ImageRef.parse(resolved)
    except InvalidImageRef as exc:
        return f"not a valid image reference: {exc.reason}", "error"
    if ref.tag_implicit:
        return (
            f"no tag: pulls whatever :{DEFAULT_TAG} is at deploy time; pin a version tag"
            " or tag@digest (dockyard pin)",
            "error",
        )
    if classify(ref, moving_tags=moving_tags) is ImageKind.MUTABLE:
        return (
            f"mutable tag :{ref.tag}: its content can change between deploys; pin a version"
            " tag or tag@digest (dockyard pin)",
            "error",
        )
    return None, "error"


def interpolate(text: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """`text` with compose variables substituted, and the names that resolved to nothing.

    Handles $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
    ${VAR:+alt} and ${VAR+alt}; defaults may nest. A name counts as resolving to nothing
    when it is unset or empty and the expression gives no default.
    """
    out: list[str] = []
    empty: list[str] = []
    for piece, names in _pieces(text, variables):
        out.append(piece)
        empty += [n for n in names if n not in empty]
    return "".join(out), empty


def _pieces(text: str, variables: Mapping[str, str]) -> Iterator[tuple[str, list[str]]]:
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            yield text[i], []
            i += 1
        elif text[i + 1] == "$":
            yield "$", []
            i += 2
        elif text[i + 1] == "{":
            end = _closing_brace(text, i + 2)
            yield _expand(text[i + 2 : end], variables)
            i = end + 1
        elif match := _NAME_RE.match(text, i + 1):
            yield _expand(match.group(), variables)
            i = match.end()
        else:
            yield "$", []
            i += 1


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ComposeFileError(f"unclosed ${{ in {text!r}")


def _expand(expression: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    match = _EXPRESSION.fullmatch(expression)
    if not match:
        raise ComposeFileError(f"bad variable expression ${{{expression}}}")
    name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
    value = variables.get(name)
    is_set, non_empty = value is not None, bool(value)
    if op in (":-", "-") and not (non_empty if op == ":-" else is_set):
        return interpolate(arg, variables)
    if op in (":+", "+"):
        return interpolate(arg, variables) if (non_empty if op == ":+" else is_set) else ("", [])
    return (value, []) if non_empty else (value or "", [name])


def _get(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    """The value of `key` in a mapping node, looking into merged (`<<:`) mappings after."""
    merged = []
    for key_node, value in mapping.value:
        if key_node.tag == _MERGE_TAG:
            merged += value.value if isinstance(value, yaml.SequenceNode) else [value]
        elif isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value
    for source in merged:
        if isinstance(source, yaml.MappingNode) and (found := _get(source, key)) is not None:
            return found
    return None


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ComposeFileError(f"cannot read {file}: {exc}") from None


def _dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (comments, `export` and quotes handled)."""
    if not path.is_file():
        return {}
    values = {}
    for line in _read(path).splitlines():
        line = line.strip().removeprefix("export ").strip()
        key, eq, value = line.partition("=")
        if not eq or line.startswith("#") or not _NAME_RE.fullmatch(key.strip()):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
