"""Lint compose images: no tag, mutable or floating tags, variables resolving to nothing."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from dockyard import yamlsafe
from dockyard.compose_files import ComposeFileError, ComposeSet, Effective, problem
from dockyard.images.ref import DEFAULT_TAG, ImageKind, ImageRef, InvalidImageRef, classify
from dockyard.names import ENV_NAME

Level = Literal["error", "info"]

_NAME = ENV_NAME.pattern
_WHOLE_VARIABLE = re.compile(
    rf"\$(?:(?P<plain>{_NAME})|\{{(?P<braced>{_NAME})(?:[:]?[-?+][^}}]*)?\}})"
)
_EXPRESSION = re.compile(rf"(?P<name>{_NAME})(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)

FLOATING_TAGS = frozenset({"latest", "release", "alpine", "nightly", "stable", "main", "edge"})


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


def lint_compose(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    moving_tags: Collection[str] = (),
    dotenv: bool = True,
) -> list[Finding]:
    """Findings for every pulled service image of the compose file at `path` and the files it
    includes, in file order; extends are followed, services built locally are skipped.

    Variables resolve as compose resolves them: from `environ` (default: the process
    environment) over the `.env` file next to the compose file (unless `dotenv` is false:
    dockyard writes the stack's own .env on the host). An image that is a single
    variable (`${APP_IMAGE}`) is given per deploy and reported as info. Floating tags
    (FLOATING_TAGS and `moving_tags`) count as mutable. Raises ComposeFileError for a file
    that cannot be read as compose.
    """
    file = Path(path)
    local = _dotenv(file.parent / ".env") if dotenv else {}
    variables = {**local, **(os.environ if environ is None else environ)}
    tags = FLOATING_TAGS | set(moving_tags)
    files = ComposeSet()
    findings: list[Finding] = []
    for doc in files.tree(file):
        for service in doc.services.values():
            found = files.effective(service)
            if found.built_locally:
                continue
            finding = _finding(found, variables, tags)
            if finding and finding not in findings:
                findings.append(finding)
    return findings


def _finding(
    found: Effective, variables: Mapping[str, str], tags: frozenset[str]
) -> Finding | None:
    name, node = found.service.name, found.image
    if node is None:
        return Finding(
            str(found.service.file), name, "(none)",
            "no image and no build: compose cannot start it; add image: or build:",
            "error", found.service.line,
        )  # fmt: skip
    problem, level = _problem(node.value, variables, tags)
    if problem is None:
        return None
    return Finding(
        str(found.image_file), name, node.value, problem, level, node.start_mark.line + 1
    )


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
        elif match := ENV_NAME.match(text, i + 1):
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


def _dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (comments, `export` and quotes handled)."""
    if not path.is_file():
        return {}
    try:
        text = yamlsafe.read_text(path, ".env file")
    except yamlsafe.YamlProblem as exc:
        raise problem(path, None, str(exc), exc.fix) from None
    values = {}
    for line in text.splitlines():
        line = line.strip().removeprefix("export ").strip()
        key, eq, value = line.partition("=")
        if not eq or line.startswith("#") or not ENV_NAME.fullmatch(key.strip()):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key.strip()] = value
    return values
