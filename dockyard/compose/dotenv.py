"""Read a compose `.env` file as compose does (compose-go's dotenv parser and its `${...}`
interpolation): comments, `export`, single/double quotes, escapes, multi-line quoted values,
`KEY` alone (taken from the lookup), and variables resolved from the lookup first, then from
the file's earlier lines."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from dockyard.errors import DockyardError

Lookup = Callable[[str], str | None]

_PATTERN = re.compile(
    r"\$(?:(?P<escaped>\$)|(?P<named>[_a-zA-Z][_a-zA-Z0-9]*)"
    r"|\{(?:(?P<braced>[_a-zA-Z][_a-zA-Z0-9]*(?::?[-+?](?:.*))?)\}|(?P<invalid>)))"
)
_ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
_SIMPLE = {"a": "\a", "b": "\b", "c": "\\c", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
           "v": "\v", '"': '"', "\\": "\\"}  # fmt: skip
_EXPORT = re.compile(r"export[ \t\v\f\r\x85\xa0]+")
_SPACE = " \t\v\f\r\x85\xa0"
_OPERATORS = (":?", "?", ":-", "-", ":+", "+")


class DotenvError(DockyardError, ValueError):
    """A `.env` file compose would refuse (bad name, unterminated quote, a `${X:?}` unset)."""


def parse(text: str, lookup: Lookup | None = None) -> dict[str, str]:
    """The variables of a .env file's text, in file order (a later line wins). `lookup` plays
    compose's process environment: it answers `KEY`-alone lines and wins over the file's own
    earlier values inside `${...}`. Raises DotenvError naming the line."""
    out: dict[str, str] = {}
    rest, line = text.removeprefix("\ufeff"), 1
    ask = lookup or (lambda _name: None)
    while True:
        rest, line = _statement_start(rest, line)
        if not rest:
            return out
        key, rest, inherited, line = _key(rest, line)
        if inherited:
            found = ask(key)
            if found is not None:
                out[key] = found
            continue
        value, rest, line = _value(rest, line, out, ask)
        out[key] = value


def _statement_start(src: str, line: int) -> tuple[str, int]:
    """Skip blank space and comment lines (counting lines)."""
    while True:
        stripped = src.lstrip(_SPACE + "\n")
        line += src[: len(src) - len(stripped)].count("\n")
        if not stripped.startswith("#"):
            return stripped, line
        end = stripped.find("\n")
        if end == -1:
            return "", line
        src = stripped[end:]


def _key(src: str, line: int) -> tuple[str, str, bool, int]:
    if _EXPORT.match(src):
        src = src[len("export") :].lstrip(_SPACE)
    for i, char in enumerate(src):
        if char in _SPACE:
            continue
        if char in "=:\n":
            key = src[:i].rstrip()
            if " " in key:
                raise DotenvError(f"line {line}: key cannot contain a space")
            inherited = char == "\n"
            return key, src[i + 1 :].lstrip(_SPACE), inherited, line + inherited
        if not (char.isalnum() or char in "_.-[]"):
            first = src.split("\n", 1)[0]
            raise DotenvError(
                f"line {line}: unexpected character {char!r} in variable name {first!r}"
            )
    return src.strip(), "", True, line


def _value(src: str, line: int, earlier: Mapping[str, str], lookup: Lookup) -> tuple[str, str, int]:
    quote = src[:1]
    if quote not in ("'", '"'):
        value, _, rest = src.partition("\n")
        value = value.split(" #", 1)[0].rstrip()
        return substitute(value, _chain(lookup, earlier), line), rest, line + 1
    chars: list[str] = []
    escaped = False
    for i in range(1, len(src)):
        char = src[i]
        if char == "\n":
            line += 1
        if char != quote:
            if not escaped and char == "\\":
                escaped = True
                continue
            if escaped:
                escaped = False
                chars.append("\\")
            chars.append(char)
            continue
        if escaped:
            escaped = False
            chars.append(char)
            continue
        value = "".join(chars)
        if quote == '"':
            value = substitute(_unescape(value), _chain(lookup, earlier), line)
        return value, src[i + 1 :], line
    first = src.split("\n", 1)[0]
    raise DotenvError(f"line {line}: unterminated quoted value {first}")


def _unescape(value: str) -> str:
    def one(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "\\$":
            return "$$"
        if text.startswith("\\0"):
            digits = text[2:]
            octal = len(digits) == 3 and set(digits) <= set("01234567")
            return chr(int(digits, 8)) if octal and int(digits, 8) < 256 else text
        return _SIMPLE[text[1]]

    return _ESCAPE.sub(one, value)


def _chain(lookup: Lookup, earlier: Mapping[str, str]) -> Lookup:
    def find(name: str) -> str | None:
        found = lookup(name)
        return found if found is not None else earlier.get(name)

    return find


def substitute(template: str, lookup: Lookup, line: int = 0) -> str:
    """compose's interpolation of `template`: `$$`, `$X`, `${X}`, `${X:-d}`, `${X-d}`,
    `${X:+a}`, `${X+a}`, `${X:?e}`, `${X?e}` (nested in defaults too); unset is empty."""
    where = f"line {line}: " if line else ""

    def replace(match: re.Match[str]) -> str:
        return _replacement(match.group(0), lookup, where)

    return _PATTERN.sub(replace, template)


def _replacement(text: str, lookup: Lookup, where: str) -> str:
    close = _closing_brace(text)
    rest = ""
    if close > -1:
        text, rest = text[: close + 1], text[close + 1 :]
    match = _PATTERN.fullmatch(text)
    if match is None or not (
        match.group("escaped") or match.group("named") or match.group("braced")
    ):
        raise DotenvError(f"{where}invalid interpolation format {text!r}")
    if match.group("escaped"):
        return "$"
    named = match.group("named")
    if named:
        return lookup(named) or ""
    braced = match.group("braced") or ""
    applied = _braced(braced, lookup, where)
    if applied is not None:
        return applied + substitute(rest, lookup)
    return lookup(braced) or ""


def _braced(expression: str, lookup: Lookup, where: str) -> str | None:
    """The value of `${expression}` when it carries an operator (the first one written)."""
    found = [(expression.find(op), n, op) for n, op in enumerate(_OPERATORS) if op in expression]
    if not found:
        return None
    _, _, op = min(found)
    name, _, argument = expression.partition(op)
    value = lookup(name)
    colon = op.startswith(":")
    missing = value is None or (colon and value == "")
    if op.endswith("?"):
        if missing:
            reason = substitute(argument, lookup)
            detail = f": {reason}" if reason else ""
            raise DotenvError(f"{where}required variable {name} is missing a value{detail}")
        return value or ""
    if op.endswith("-"):
        return substitute(argument, lookup) if missing else value or ""
    return substitute(argument, lookup) if not missing else value or ""


def _closing_brace(text: str) -> int:
    depth, i = 0, 0
    while i < len(text):
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if text[i] == "{":
            depth += 1
            i += 1
        i += 1
    return -1
