"""The lock step: take the stack's host lock, and learn the stack instance it guards."""

from __future__ import annotations

import os
import shlex
import socket
import time
import uuid
from dataclasses import dataclass

from dockyard import lock
from dockyard.session import DeployRequest, HostStack

LOCK_FILE = "lock"
INSTANCE_FILE = "instance"


@dataclass(frozen=True)
class Locked:
    """The lock is held; `instance` identifies this copy of the stack on this host (a wiped
    host gets a new one, so cached steps of an earlier copy are never reused)."""

    path: str
    instance: str
    note: str


def lock_path(hs: HostStack) -> str:
    return f"{hs.project.state_dir}/{LOCK_FILE}"


def take(hs: HostStack, request: DeployRequest, timeout: float) -> Locked:
    """Acquire the lock (waiting up to steps.lock.wait) and read or create the instance id."""
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
    return Locked(result.path, instance(hs, timeout), note)


def instance(hs: HostStack, timeout: float, renew: bool = False) -> str:
    """The stack instance id on the host, created if absent (or replaced when `renew`)."""
    state = shlex.quote(hs.project.state_dir)
    path = shlex.quote(f"{hs.project.state_dir}/{INSTANCE_FILE}")
    keep = "" if renew else f"[ -s {path} ] || "
    script = f"mkdir -p {state} && {{ {keep}echo {uuid.uuid4().hex} > {path}; }} && cat {path}"
    return hs.link.run(script, timeout=timeout).stdout.strip()


def release(hs: HostStack, request: DeployRequest, timeout: float) -> None:
    """Release the lock if this run holds it."""
    lock.release(hs.link, lock_path(hs), request.run_id, timeout=timeout)
