"""Plain shell builders: quoting, the directory operations the steps need, taking stdin whole."""

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


def take_stdin(dest: str, size: int) -> str:
    """sh: copy stdin to `dest` (a shell word such as "$t"), then fail unless it holds exactly
    `size` bytes. A deployer killed mid-send ends the channel, which `cat` takes for the end of
    its input: without the count, a cut-off (or empty) write would land as if whole."""
    return f'cat > {dest} && [ "$(wc -c < {dest})" -eq {int(size)} ]'
