"""Bring the stack up: stop-before-up services, `compose up --wait`, config-gated restarts."""

from __future__ import annotations

import hashlib
import json

from dockyard.commands.shell import mkdir
from dockyard.deadline import Deadline
from dockyard.session import HostStack


def stop_first(hs: HostStack, timeout: float) -> list[str]:
    """Stop the services configured to stop before `up` (e.g. an autoheal that races it)."""
    services = hs.stack.up.stop_first
    if services:
        hs.run(hs.project.stop(services), timeout=timeout)
    return list(services)


def up(hs: HostStack, deadline: Deadline, extra_files: tuple[str, ...] = ()) -> None:
    """`compose up -d --wait` without pulling, within the step's deadline (compose's own
    --wait-timeout is the stack's wait_timeout or the time left, whichever is less)."""
    wait = max(1.0, min(hs.stack.up.wait_timeout, deadline.left() - 5))
    argv = hs.project.up(
        wait_timeout=wait, remove_orphans=hs.stack.up.remove_orphans, extra_files=extra_files
    )
    hs.runner.run(argv, deadline=deadline)


def file_hashes(hs: HostStack) -> dict[str, str]:
    """sha256 of every file a restart rule watches, from the local bundle."""
    files = {name for rule in hs.stack.restarts for name in rule.files}
    return {
        n: hashlib.sha256((hs.stack.bundle / n).read_bytes()).hexdigest() for n in sorted(files)
    }


def gated_restarts(hs: HostStack, timeout: float) -> list[str]:
    """Restart each service whose watched files changed since the last deploy; remember hashes."""
    if not hs.stack.restarts:
        return []
    path = hs.project.state.restart_hashes
    raw = hs.link.read_file(path, max_bytes=1 << 20)
    before: dict[str, str] = json.loads(raw) if raw else {}
    now = file_hashes(hs)
    changed = [
        rule.service
        for rule in hs.stack.restarts
        if before and any(before.get(f) != now[f] for f in rule.files)
    ]
    if changed:
        hs.run(hs.project.restart(changed), timeout=timeout)
    hs.link.run(mkdir(hs.project.state.root), timeout=timeout)
    hs.link.write_file(path, json.dumps(now, sort_keys=True).encode(), mode=0o644)
    return changed
