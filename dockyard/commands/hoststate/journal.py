"""Attempt scripts: open (or resume) the attempt that keys a release's journal, and close it."""

from __future__ import annotations

from dockyard.commands.hoststate.paths import HostState, keep_only, mkdir_state
from dockyard.commands.shell import quote


def attempt_open(state: HostState, release: str, fresh: str) -> str:
    """Print the open attempt line of `release` ("<release> open <token>"), or make `fresh`
    (that line, for a new attempt) the open one, dropping older attempts' journals and jobs."""
    path = quote(state.attempt)
    token = fresh.rsplit(" ", 1)[-1]
    return (
        f"{mkdir_state(state)} && cur=$(cat {path} 2>/dev/null); "
        f'case "$cur" in {quote(release + " open ")}*) echo "$cur" ;; '
        f"*) {keep_only(state.journal_dir, token)}; {keep_only(state.jobs_dir, token)}; "
        f"printf '%s\\n' {quote(fresh)} > {path}.tmp.$$ && mv {path}.tmp.$$ {path} && "
        f"cat {path} ;; esac"
    )


def attempt_close(state: HostState, release: str, outcome: str) -> str:
    """Mark the attempt finished: the next deploy of any release opens a new one."""
    path = quote(state.attempt)
    line = quote(f"{release} {outcome}")
    return f"printf '%s\\n' {line} > {path}.tmp.$$ && mv {path}.tmp.$$ {path}"
