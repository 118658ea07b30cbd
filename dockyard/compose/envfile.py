"""Render a stack's .env file: values quoted so compose reads them back literally."""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.names import ENV_NAME


class EnvValueError(ValueError):
    """A value that the compose .env format cannot carry literally."""


def carries(value: str) -> bool:
    """Whether a single-quoted .env value can hold `value` literally (no `'`, no line break)."""
    return not any(c in value for c in "'\n\r")


def quote(key: str, value: str) -> str:
    """Quote a value so compose's dotenv reads it back literally (no `'` or line breaks allowed).

    Single quotes keep every character as is, except that `\\'` is an escaped quote: a value
    ending in a backslash would swallow its closing quote and the next line. Such a value is
    double-quoted instead, where `\\\\`, `\\"` and `\\$` read back as `\\`, `"` and `$`."""
    if not carries(value):
        raise EnvValueError(
            f"env value for {key} contains a single quote or a line break, which the compose "
            ".env format cannot carry literally; remove it from the value"
        )
    if not value.endswith("\\"):
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def render(env: Mapping[str, str]) -> bytes:
    """The .env content, one `KEY='value'` per line, sorted by key."""
    lines = []
    for key in sorted(env):
        if not ENV_NAME.fullmatch(key):
            raise EnvValueError(f"env key {key!r} is not a valid variable name")
        lines.append(f"{key}={quote(key, env[key])}")
    return ("\n".join(lines) + "\n").encode()
