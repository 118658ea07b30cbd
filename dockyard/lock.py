"""The host-side deploy lock: one JSON file per stack, with owner, run id and expiry."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from dockyard.errors import LockHeld
from dockyard.ssh.link import Link

ACQUIRE = (  # the owner is written to a temp file first, then hard-linked: atomic and complete
    'mkdir -p {dir} && umask 077 && t={lock}.$$ && cat > "$t" && '
    'if ln "$t" {lock} 2>/dev/null; then rm -f "$t"; echo ACQUIRED; '
    'else rm -f "$t"; echo HELD; cat {lock}; fi'
)
TAKE_OVER = (
    'umask 077 && t={lock}.$$ && cat > "$t" && '
    'if [ "$(cat {lock} 2>/dev/null)" = {seen} ]; then mv "$t" {lock} && echo TOOK; '
    'else rm -f "$t"; fi'
)
RELEASE = "grep -qF {needle} {lock} 2>/dev/null && rm -f {lock}; true"


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock: run id, release, actor, deploying process, and when it expires."""

    run_id: str
    release: str
    actor: str
    deployer: str
    acquired_at: float
    expires_at: float

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.acquired_at))
        return (
            f"run {self.run_id} (release {self.release}, by {self.actor} "
            f"from {self.deployer}, since {when})"
        )

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class LockResult:
    """The lock is ours; `replaced` is the stale or resumed owner we took it over from."""

    path: str
    replaced: LockOwner | None = None
    reason: str = ""


def _parse(text: str) -> LockOwner | None:
    try:
        return LockOwner(**json.loads(text))
    except (ValueError, TypeError):
        return None


def acquire(
    link: Link,
    lock_path: str,
    owner: LockOwner,
    *,
    wait: float,
    resumes: frozenset[str] = frozenset(),
    poll: float = 2.0,
    timeout: float = 30.0,
    sleep: Callable[[float], None] = time.sleep,
) -> LockResult:
    """Take the lock, waiting up to `wait` for a live holder; take over a stale lock or one
    left by a run this one resumes (`resumes` holds those run ids, including our own)."""
    directory = lock_path.rsplit("/", 1)[0]
    payload = json.dumps(asdict(owner)).encode()  # no trailing newline: $(cat) compares whole
    deadline = time.monotonic() + wait
    while True:
        cmd = ACQUIRE.format(dir=shlex.quote(directory), lock=shlex.quote(lock_path))
        out = link.run(cmd, timeout=timeout, stdin=payload).stdout
        status, _, held = out.partition("\n")
        if status.strip() == "ACQUIRED":
            return LockResult(lock_path)
        held = held.rstrip("\n")
        holder = _parse(held)
        reason = ""
        if holder is None:
            reason = f"unreadable lock file ({held[:80]!r})"
        elif holder.run_id in resumes or holder.run_id == owner.run_id:
            reason = f"left by {holder.describe()}, which this run resumes"
        elif holder.expired(time.time()):
            reason = f"stale: {holder.describe()} expired"
        if reason:
            take = TAKE_OVER.format(lock=shlex.quote(lock_path), seen=shlex.quote(held))
            if "TOOK" in link.run(take, timeout=timeout, stdin=payload, check=False).stdout:
                return LockResult(lock_path, holder, reason)
        if holder is not None and time.monotonic() >= deadline:
            expires = time.strftime("%H:%M:%S UTC", time.gmtime(holder.expires_at))
            raise LockHeld(
                f"{lock_path} is held by {holder.describe()}; it expires at {expires}. "
                "Wait for that deploy to finish, or raise steps.lock.wait"
            )
        if time.monotonic() >= deadline:
            raise LockHeld(f"{lock_path}: {reason}, and it could not be taken over; remove it")
        sleep(poll)


def release(link: Link, lock_path: str, run_id: str, timeout: float = 30.0) -> None:
    """Remove the lock if this run holds it (never someone else's)."""
    needle = shlex.quote(f'"run_id": "{run_id}"')
    link.run(RELEASE.format(needle=needle, lock=shlex.quote(lock_path)), timeout=timeout)
