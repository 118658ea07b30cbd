"""The lock step: take the stack's lease, keep it renewed, and open (or resume) the attempt."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass

from dockyard import lock
from dockyard.commands import hoststate
from dockyard.deadline import Deadline
from dockyard.runner import LinkRunner
from dockyard.session import DeployRequest, HostStack

OPEN = "open"

_leases: dict[tuple[str, str, str], lock.Lease] = {}
_leases_lock = threading.Lock()


@dataclass(frozen=True)
class Locked:
    """The lock is held; `attempt` keys the journal and cached steps of this release here."""

    path: str
    attempt: str
    note: str


def runner(hs: HostStack) -> LinkRunner:
    return hs.runner


def _key(hs: HostStack, run_id: str) -> tuple[str, str, str]:
    return (run_id, hs.target.name, hs.stack.project)


def take(
    hs: HostStack, request: DeployRequest, timeout: float,
    is_run_finished: lock.RunFinished | None = None,
) -> Locked:  # fmt: skip
    """Acquire the lease (waiting up to steps.lock.wait), start renewing it, and open or resume
    the attempt. If anything fails after the lock was taken, it is released again."""
    settings = hs.config.steps.lock
    deployer = f"{socket.gethostname()}:{os.getpid()}"
    process = lock.process_identity(os.getpid())

    def owner(host_now: float) -> lock.LockOwner:
        return lock.LockOwner(request.run_id, hs.loaded.release, request.actor, deployer,
                              host_now, host_now + settings.expiry, process)  # fmt: skip

    run = runner(hs)
    held = lock.acquire(
        run, hs.project.state, owner, expiry=settings.expiry, wait=settings.wait,
        run_id=request.run_id, resumes=frozenset(request.resumes),
        is_run_finished=is_run_finished,
    )  # fmt: skip
    lease = lock.Lease(run, hs.project.state, held, settings.expiry, hs.log)
    try:
        lease.start()
        opened = attempt(hs, timeout)
    except BaseException:
        lease.release()
        raise
    with _leases_lock:
        old = _leases.pop(_key(hs, request.run_id), None)
        _leases[_key(hs, request.run_id)] = lease
    if old is not None:
        old.stop()
    note = f"took over a lock {held.reason}" if held.replaced else ""
    return Locked(held.path, opened, note)


def check(request: DeployRequest, host: str, project: str) -> None:
    """Raise LeaseLost if this run held the stack's lease in this process and lost it."""
    with _leases_lock:
        lease = _leases.get((request.run_id, host, project))
    if lease is not None:
        lease.check()


def attempt(hs: HostStack, timeout: float) -> str:
    """The token of this release's open attempt on the host, or a new one.

    An attempt stays open until the release is recorded (succeeded or rolled back): a resume,
    a Retry or a rerun of a release whose deploy did not finish reuses it, so its finished
    steps are skipped (from the journal on the host). Any other deploy opens a new attempt and
    runs every step; a wiped host has no attempt file at all."""
    fresh = f"{hs.loaded.release} {OPEN} {uuid.uuid4().hex}"
    script = hoststate.attempt_open(hs.project.state, hs.loaded.release, fresh)
    out = runner(hs).run(script, deadline=Deadline("lock", timeout), quiet=True).stdout
    return out.strip().rsplit(" ", 1)[-1]


def close_attempt(hs: HostStack, outcome: str, timeout: float) -> None:
    """Mark the release's attempt finished (`outcome`: succeeded, rolled_back)."""
    script = hoststate.attempt_close(hs.project.state, hs.loaded.release, outcome)
    runner(hs).run(script, deadline=Deadline("record", timeout), quiet=True)


def release(hs: HostStack, request: DeployRequest, timeout: float) -> None:
    """Stop renewing and release the lock if this run holds it."""
    with _leases_lock:
        lease = _leases.pop(_key(hs, request.run_id), None)
    if lease is not None:
        lease.stop()
    lock.release(runner(hs), hs.project.state, request.run_id)
