"""Attempt scripts: open (or resume) the attempt that keys a release's journal, and close it."""

from __future__ import annotations

from dockyard.commands.hoststate.paths import (
    HostState,
    checked_attempt,
    keep_only,
    land,
    mkdir_state,
    temp_beside,
)
from dockyard.commands.shell import quote

MALFORMED = "MALFORMED"  # first line when an open attempt line held a token that is not hex


def _write_line(path: str, line: str) -> str:
    return f"{temp_beside(path)} && printf '%s\\n' {quote(line)} > \"$t\" && {land(path)}"


def attempt_open(state: HostState, release: str, fresh: str) -> str:
    """Print the open attempt line of `release` ("<release> open <token>"), or make `fresh`
    (that line, for a new attempt) the open one, dropping older attempts' journals and jobs.

    The file is host state, so its token is input: an open line of `release` whose token is
    not hex (at most 64 digits) is treated as no open attempt (a new one is opened, nothing of
    the planted one is used) and MALFORMED is printed first."""
    path = quote(state.attempt)
    token = checked_attempt(fresh.rsplit(" ", 1)[-1])
    prefix = quote(release + " open ")
    return (
        f"{mkdir_state(state)} && cur=$(cat {path} 2>/dev/null); "
        f'case "$cur" in {prefix}*) tok=${{cur#{prefix}}}; '
        f'case "$tok" in "" | *[!0-9a-f]*) echo {MALFORMED}; cur= ;; *) '
        f"[ ${{#tok}} -le 64 ] || {{ echo {MALFORMED}; cur=; }} ;; esac ;; *) cur= ;; esac; "
        f'if [ -n "$cur" ]; then echo "$cur"; else '
        f"{keep_only(state.journal_dir, token)}; {keep_only(state.jobs_dir, token)}; "
        f"{_write_line(state.attempt, fresh)} && cat {path}; fi"
    )


def attempt_close(state: HostState, release: str, outcome: str) -> str:
    """Mark the attempt finished: the next deploy of any release opens a new one."""
    return _write_line(state.attempt, f"{release} {outcome}")
