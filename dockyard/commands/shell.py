"""Plain shell builders: quoting and the directory operations the steps need."""

from __future__ import annotations

import shlex

quote = shlex.quote


def mkdir(path: str, mode: str | None = None) -> str:
    """Create a directory (and its parents), optionally with `mode` for the last one."""
    flag = f"-m {mode} " if mode else ""
    return f"mkdir -p {flag}{quote(path)}"


def remove_tree(path: str) -> str:
    """Remove a directory tree; no error if it is not there."""
    return f"rm -rf -- {quote(path)}"
