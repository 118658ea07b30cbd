"""Lease scripts: read, compare-and-swap and remove the stack's lock, each under the flock guard
(one round trip; a change is a temp file then `mv`, so a reader sees old or new, never a part)."""

from __future__ import annotations

from dockyard.commands.hoststate.paths import HostState, land, mkdir_state, temp_beside
from dockyard.commands.shell import quote, take_stdin

LOCK_BUSY = 75  # exit status when the guard could not be taken in time

NO_FLOCK = 69  # exit status when the host has no flock(1)


def _under_guard(state: HostState, body: str, wait: int = 10) -> str:
    """`body` run holding the stack's flock guard: lock changes are serialized on the host."""
    return (
        f"command -v flock >/dev/null 2>&1 || exit {NO_FLOCK}; "
        f"{mkdir_state(state)} && [ ! -L {quote(state.lock_guard)} ] && umask 077 && "
        f"exec 9>>{quote(state.lock_guard)} && "
        f"flock -w {wait} 9 || exit {LOCK_BUSY}; {body}"
    )


def lock_read(state: HostState) -> str:
    """Prints `<host now> <lock mtime or ->`, then the lock's content (none if absent)."""
    lock = quote(state.lock)
    return (
        f'printf \'%s %s\\n\' "$(date +%s)" "$(stat -c %Y {lock} 2>/dev/null || echo -)"; '
        f"cat {lock} 2>/dev/null; true"
    )


def lock_swap(state: HostState, expected: str | None, size: int | None) -> str:
    """Compare-and-swap of the lock under the guard: if its content is `expected` (None: no
    lock file), replace it with stdin (`size` bytes; None: remove it), and print SWAPPED; else
    print CHANGED, then what lock_read prints."""
    lock = quote(state.lock)
    same = (
        f"[ ! -e {lock} ]"
        if expected is None
        else f'[ "$(cat {lock} 2>/dev/null)" = {quote(expected)} ]'
    )
    if size is None:
        change = f"rm -f -- {lock}"
    else:
        took = take_stdin('"$t"', size)
        change = f'{temp_beside(state.lock)} && {{ {took} || {{ rm -f -- "$t"; false; }}; }} && '
        change += land(state.lock)
    body = f"if {same}; then {change} && echo SWAPPED; else echo CHANGED; {lock_read(state)}; fi"
    return _under_guard(state, body)


def lock_remove(state: HostState, run_id: str | None) -> str:
    """Remove the lock under the guard if `run_id` holds it (None: whoever holds it); print
    REMOVED or KEPT."""
    lock = quote(state.lock)
    if run_id is None:
        test = f"[ -e {lock} ]"
    else:
        needle = quote('"run_id": "' + run_id + '"')
        test = f"grep -qF {needle} {lock} 2>/dev/null"
    return _under_guard(
        state, f"if {test}; then rm -f -- {lock} && echo REMOVED; else echo KEPT; fi"
    )
