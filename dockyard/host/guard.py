"""The host's state is input: before a deploy writes, refuse a remote_dir whose path others can
change and a `.dockyard/` holding links dockyard did not make (run by the lock step)."""

from __future__ import annotations

from dockyard.commands.hoststate.guard import LINK, OK, OWNER, WRITABLE, state_check
from dockyard.commands.hoststate.paths import HostState
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.runner import Runner


class UnsafeHostState(DeployError):
    """The stack's directory or state cannot be written through safely: another user (or a
    container) could steer what root writes or removes. Not retried: a person must fix it."""


def describe(line: str) -> str:
    """One problem line of state_check as what is wrong and the fix."""
    kind, _, rest = line.partition(" ")
    if kind == WRITABLE:
        mode, _, path = rest.partition(" ")
        return (f"{path} is group- or world-writable (mode {mode}): whoever can write there can "
                f"swap the stack's files under root; fix: chmod go-w {path}")  # fmt: skip
    if kind == OWNER:
        uid, _, path = rest.partition(" ")
        return (f"{path} is owned by uid {uid}, neither root nor the SSH user: its owner can "
                f"swap the stack's files; fix: chown root {path} (or the SSH user)")  # fmt: skip
    if kind == LINK:
        return (f"{rest} is a symlink, and dockyard makes none under .dockyard/: someone planted "
                f"it; fix: check who did, then remove it (rm {rest})")  # fmt: skip
    return f"unexpected answer from the state check: {line[:200]!r}"


def check(runner: Runner, state: HostState, host: str, deadline: Deadline) -> None:
    """Raise UnsafeHostState naming every problem and its fix; else `.dockyard/` exists, 0700."""
    out = runner.run(state_check(state), deadline=deadline, quiet=True).stdout
    lines = [line for line in out.splitlines() if line.strip()]
    if lines == [OK]:
        return
    problems = "; ".join(describe(line) for line in lines if line != OK) or "no answer"
    raise UnsafeHostState(f"{host}: {state.remote_dir} is not safe to deploy into: {problems}")
