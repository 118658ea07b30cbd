"""Lint compose images: no tag, floating tags, variables resolving to nothing, images that
compose never pulls; one finding per image expression, naming every service that uses it."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from dockyard import yamlsafe
from dockyard.compose_files import ComposeFileError, ComposeSet, Effective, problem
from dockyard.images.floating import floating_tags
from dockyard.images.ref import DEFAULT_TAG, ImageKind, ImageRef, InvalidImageRef, classify
from dockyard.names import ENV_NAME

Level = Literal["error", "info"]

_NAME = ENV_NAME.pattern
_WHOLE_VARIABLE = re.compile(
    rf"\$(?:(?P<plain>{_NAME})|\{{(?P<braced>{_NAME})(?P<op>:?[-?+])?(?P<arg>[^}}]*)\}})"
)
_EXPRESSION = re.compile(rf"(?P<name>{_NAME})(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


@dataclass(frozen=True)
class Finding:
    """One problem with one image expression, for every service using it; `level` "info" is
    reported but does not fail lint."""

    file: str
    services: tuple[str, ...]
    image: str
    problem: str
    level: Level = "error"
    line: int | None = None

    @property
    def failing(self) -> bool:
        return self.level == "error"

    @property
    def service(self) -> str:
        """The services using the image, comma-separated."""
        return ", ".join(self.services)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        noun = "service" if len(self.services) == 1 else "services"
        return f"{where}: {self.level}: {noun} {self.service}: {self.image}: {self.problem}"


@dataclass
class _Merged:
    """A service as compose merges it over several files: the last file setting a key wins."""

    name: str
    file: Path
    line: int
    image: yaml.ScalarNode | None = None
    image_file: Path | None = None
    build: bool = False
    pull_policy: str | None = None

    def add(self, found: Effective) -> None:
        if found.image is not None:
            self.image, self.image_file = found.image, found.image_file
        self.build = self.build or found.build
        self.pull_policy = found.pull_policy or self.pull_policy


def lint_compose(
    path: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
    moving_tags: Collection[str] = (),
    dotenv: bool = True,
) -> list[Finding]:
    """Findings for the compose file at `path` and the files it includes (see `lint_files`).

    Variables resolve as compose resolves them: from `environ` (default: the process
    environment) over the `.env` file next to the compose file (unless `dotenv` is false).
    """
    file = Path(path)
    local = read_dotenv(file.parent / ".env") if dotenv else {}
    return lint_files(
        [file], {**local, **(os.environ if environ is None else environ)}, moving_tags
    )


def lint_files(
    files: Sequence[Path], variables: Mapping[str, str], moving_tags: Collection[str] = ()
) -> list[Finding]:
    """Findings for every service image of these compose files merged as `docker compose -f a
    -f b` merges them (a later file's keys win; includes and extends followed), in file order.

    Services compose builds here (build: without image:, pull_policy build, or never with a
    build:) are skipped; an image that is one variable left unset (`${APP_IMAGE}`) is given per
    deploy (info); one set (the bundle's .env, stacks[].env, --set) or with a default is
    linted as it resolves. Floating tags (dockyard.images.floating plus `moving_tags`) count
    as mutable. Raises ComposeFileError for a file that cannot be read as compose.
    """
    tags = floating_tags(moving_tags)
    compose = ComposeSet()
    merged: dict[str, _Merged] = {}
    for file in files:
        for doc in compose.tree(file):
            for service in doc.services.values():
                found = compose.effective(service)
                entry = merged.setdefault(
                    service.name, _Merged(service.name, doc.path, service.line)
                )
                entry.add(found)
    grouped: dict[tuple[str, str, str], Finding] = {}
    for entry in merged.values():
        finding = _finding(entry, variables, tags)
        if finding is None:
            continue
        key = (finding.image, finding.problem, finding.level)
        if key in grouped:
            first = grouped[key]
            grouped[key] = Finding(first.file, (*first.services, *finding.services), first.image,
                                   first.problem, first.level, first.line)  # fmt: skip
        else:
            grouped[key] = finding
    return list(grouped.values())


def _finding(entry: _Merged, variables: Mapping[str, str], tags: frozenset[str]) -> Finding | None:
    node, policy = entry.image, _interpolated(entry.pull_policy, variables)
    if node is None:
        if entry.build:
            return None
        return Finding(
            str(entry.file), (entry.name,), "(none)",
            "no image and no build: compose cannot start it; add image: or build:",
            "error", entry.line,
        )  # fmt: skip
    if policy == "build" or (policy == "never" and entry.build):
        return None
    at = (str(entry.image_file), (entry.name,), node.value)
    line = node.start_mark.line + 1
    if policy == "never":
        text = (
            "pull_policy: never and no build: compose never pulls it, so every host must "
            "already have it (dockyard does not load images); drop pull_policy: never"
            " (dockyard then pulls it), or add build:"
        )
        return Finding(*at, text, "error", line)
    problem_text, level = image_problem(node.value, variables, tags)
    return Finding(*at, problem_text, level, line) if problem_text else None


def _interpolated(value: str | None, variables: Mapping[str, str]) -> str | None:
    """A setting such as `pull_policy: ${PULL_POLICY:-always}` as compose reads it."""
    if value is None or "$" not in value:
        return value
    try:
        return expand(value, variables)[0]
    except ComposeFileError:
        return value


def whole_variable(value: str) -> str | None:
    """The variable name when the image is exactly one variable reference."""
    match = _WHOLE_VARIABLE.fullmatch(value.strip())
    return (match.group("plain") or match.group("braced")) if match else None


def image_problem(
    value: str, variables: Mapping[str, str], moving_tags: Collection[str]
) -> tuple[str | None, Level]:
    """What is wrong with one image expression once interpolated (None: nothing), and how bad."""
    name = whole_variable(value)
    if name and not variables.get(name) and not _has_default(value):
        return f"set per deploy by ${{{name}}}; verified in its registry at deploy time", "info"
    try:
        resolved, empty, failed = expand(value, variables)
    except ComposeFileError as exc:
        return str(exc), "error"
    if failed:
        var, message = failed[0]
        return f"${{{var}}} is not set: {message or 'compose refuses to start'}", "error"
    if empty:
        names = ", ".join(f"${{{n}}}" for n in empty)
        return f"variable {names} resolves to nothing (the image would be {resolved!r})", "error"
    try:
        ref = ImageRef.parse(resolved)
    except InvalidImageRef as exc:
        shown = f"resolves to {resolved!r}, " if resolved != value else ""
        return f"{shown}not a valid image reference: {exc.reason}", "error"
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


def _has_default(value: str) -> bool:
    match = _WHOLE_VARIABLE.fullmatch(value.strip())
    return bool(match and match.group("op") in (":-", "-"))


def interpolate(text: str, variables: Mapping[str, str]) -> tuple[str, list[str]]:
    """`text` with compose variables substituted, and the names that resolved to nothing.

    Handles $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error},
    ${VAR:+alt} and ${VAR+alt}; defaults may nest. A name counts as resolving to nothing
    when it is unset or empty and the expression gives no default.
    """
    resolved, empty, failed = expand(text, variables)
    return resolved, empty + [n for n, _ in failed if n not in empty]


def expand(text: str, variables: Mapping[str, str]) -> tuple[str, list[str], list[tuple[str, str]]]:
    """`text` interpolated, the names that resolved to nothing, and the `${NAME:?message}`
    (or `?`) expressions compose refuses as (name, message)."""
    out: list[str] = []
    empty: list[str] = []
    failed: list[tuple[str, str]] = []
    for piece, names, fails in _pieces(text, variables):
        out.append(piece)
        empty += [n for n in names if n not in empty]
        failed += [f for f in fails if f not in failed]
    return "".join(out), empty, failed


_Piece = tuple[str, list[str], list[tuple[str, str]]]


def _pieces(text: str, variables: Mapping[str, str]) -> Iterator[_Piece]:
    i = 0
    while i < len(text):
        if text[i] != "$" or i + 1 == len(text):
            yield text[i], [], []
            i += 1
        elif text[i + 1] == "$":
            yield "$", [], []
            i += 2
        elif text[i + 1] == "{":
            end = _closing_brace(text, i + 2)
            yield _expand(text[i + 2 : end], variables)
            i = end + 1
        elif match := ENV_NAME.match(text, i + 1):
            yield _expand(match.group(), variables)
            i = match.end()
        else:
            yield "$", [], []
            i += 1


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise ComposeFileError(f"unclosed ${{ in {text!r}")


def _expand(expression: str, variables: Mapping[str, str]) -> _Piece:
    match = _EXPRESSION.fullmatch(expression)
    if not match:
        raise ComposeFileError(f"bad variable expression ${{{expression}}}")
    name, op, arg = match.group("name"), match.group("op"), match.group("arg") or ""
    value = variables.get(name)
    is_set, non_empty = value is not None, bool(value)
    if op in (":-", "-") and not (non_empty if op == ":-" else is_set):
        return expand(arg, variables)
    if op in (":+", "+"):
        return expand(arg, variables) if (non_empty if op == ":+" else is_set) else ("", [], [])
    if op in (":?", "?") and not (non_empty if op == ":?" else is_set):
        return "", [], [(name, expand(arg, variables)[0])]
    return (value, [], []) if non_empty else (value or "", [name], [])


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a compose .env file (comments, `export` and quotes handled); {} when
    there is no such file."""
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
