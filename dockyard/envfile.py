"""Render a stack's .env file: values quoted so compose reads them back literally."""

from __future__ import annotations

import re
from collections.abc import Mapping

DOTENV_KEY = re.compile(r"[\w.\[\]-]+")
"""A key compose's dotenv parser reads (letters, digits, `_ . - [ ]`)."""


class EnvValueError(ValueError):
    """A key that is not a variable name compose's .env format can carry."""


def carries(value: str) -> bool:
    """Whether a single-quoted .env value can hold `value` literally (no `'`, no line break)."""
    return not any(c in value for c in "'\n\r")


def quote(value: str) -> str:
    """The value as compose's dotenv reads it back literally: single-quoted when it can be
    (no `'`, line break or trailing backslash), else double-quoted with `\\`, `"`, `$`, line
    breaks escaped."""
    if carries(value) and not value.endswith("\\"):
        return f"'{value}'"
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return '"' + escaped.replace("\n", "\\n").replace("\r", "\\r") + '"'


def render(env: Mapping[str, str]) -> bytes:
    """The .env content, one `KEY='value'` per line, sorted by key."""
    lines = []
    for key in sorted(env):
        if not DOTENV_KEY.fullmatch(key):
            raise EnvValueError(f"env key {key!r} is not a valid variable name")
        lines.append(f"{key}={quote(env[key])}")
    return ("\n".join(lines) + "\n").encode()
