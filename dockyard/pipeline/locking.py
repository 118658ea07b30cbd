"""The lock step: take the stack's host lock and open (or resume) the release's attempt."""

from __future__ import annotations

import os
import shlex
import socket
import time
import uuid
from dataclasses import dataclass

from dockyard import lock
from dockyard.session import DeployRequest, HostStack

OPEN = "open"


@dataclass(frozen=True)
class Locked:
    """The lock is held; `attempt` keys the cached steps of this release on this host."""

    path: str
    attempt: str
    note: str


def lock_path(hs: HostStack) -> str:
    return hs.project.state.lock


def take(hs: HostStack, request: DeployRequest, timeout: float) -> Locked:
    """Acquire the lock (waiting up to steps.lock.wait) and open or resume the attempt."""
    settings = hs.config.steps.lock
    now = time.time()
    owner = lock.LockOwner(
        run_id=request.run_id,
        release=hs.loaded.release,
        actor=request.actor,
        deployer=f"{socket.gethostname()}:{os.getpid()}",
        acquired_at=now,
        expires_at=now + settings.expiry,
    )
    result = lock.acquire(
        hs.link, lock_path(hs), owner, wait=settings.wait, resumes=frozenset(request.resumes),
        timeout=timeout,
    )  # fmt: skip
    note = f"took over a lock {result.reason}" if result.replaced else ""
    return Locked(result.path, attempt(hs, timeout), note)


def attempt(hs: HostStack, timeout: float) -> str:
    """The token of this release's open attempt on the host, or a new one.

    An attempt stays open until the release is recorded (succeeded or rolled back): a resume,
    a Retry or a rerun of a release whose deploy did not finish reuses it, so its finished
    steps come back Cached. Any other deploy opens a new attempt and runs every step: a
    redeploy of a release that finished earlier (after B, or after a prune) is done afresh,
    and a wiped host has no attempt file at all."""
    path = shlex.quote(hs.project.state.attempt)
    mine = f"{hs.loaded.release} {OPEN} "
    fresh = f"{mine}{uuid.uuid4().hex}"
    script = (
        f"mkdir -p {shlex.quote(hs.project.state.root)} && cur=$(cat {path} 2>/dev/null); "
        f'case "$cur" in {shlex.quote(mine)}*) echo "$cur" ;; '
        f"*) echo {shlex.quote(fresh)} > {path} && cat {path} ;; esac"
    )
    return hs.link.run(script, timeout=timeout).stdout.strip().rsplit(" ", 1)[-1]


def close_attempt(hs: HostStack, outcome: str, timeout: float) -> None:
    """Mark the release's attempt finished (`outcome`: succeeded, rolled_back): the next
    deploy of any release starts a new one."""
    path = shlex.quote(hs.project.state.attempt)
    line = shlex.quote(f"{hs.loaded.release} {outcome}")
    hs.link.run(f"echo {line} > {path}", timeout=timeout)


def release(hs: HostStack, request: DeployRequest, timeout: float) -> None:
    """Release the lock if this run holds it."""
    lock.release(hs.link, lock_path(hs), request.run_id, timeout=timeout)
