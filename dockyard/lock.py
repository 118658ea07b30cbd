"""The host-side deploy lock as a lease: taken and renewed by compare-and-swap on the host."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dockyard.commands import hoststate
from dockyard.commands.hoststate import HostState
from dockyard.deadline import Deadline
from dockyard.errors import DeployError, LockHeld
from dockyard.runner import Runner
from dockyard.ssh.errors import LinkError

CALL_TIMEOUT = 30.0
RENEWALS_PER_EXPIRY = 6  # a 30 s lease is renewed every 5 s
RunFinished = Callable[[str], bool]


class LeaseLost(DeployError):
    """This deploy's lease on the stack lapsed or was taken over: it must change nothing more."""


class LockError(DeployError):
    """The lock could not be read or changed on the host."""

    transient = True


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock: run id, release, actor, deploying process, and when it expires (on
    the host's clock, so deployers with skewed clocks agree)."""

    run_id: str
    release: str
    actor: str
    deployer: str
    acquired_at: float
    expires_at: float
    process: str = ""

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.acquired_at))
        return (
            f"run {self.run_id} (release {self.release}, by {self.actor} "
            f"from {self.deployer}, since {when})"
        )

    def expired(self, host_now: float) -> bool:
        return host_now >= self.expires_at

    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)  # no newline: $(cat) compares whole


@dataclass(frozen=True)
class Seen:
    """The lock as read on the host: the host's clock, the file's mtime, its text and owner."""

    host_now: float
    mtime: float | None
    text: str | None

    @property
    def owner(self) -> LockOwner | None:
        if self.text is None:
            return None
        try:
            return LockOwner(**json.loads(self.text))
        except (ValueError, TypeError):
            return None


@dataclass(frozen=True)
class LockResult:
    """The lock is ours (`owner`, as written); `replaced` is the owner we took it over from."""

    path: str
    owner: LockOwner
    offset: float
    replaced: LockOwner | None = None
    reason: str = ""


def _parse_seen(out: str) -> Seen:
    head, _, text = out.partition("\n")
    now, _, mtime = head.strip().partition(" ")
    try:
        host_now = float(now)
    except ValueError as exc:
        raise LockError(f"unexpected answer reading the lock: {head[:80]!r}") from exc
    exists = mtime not in ("", "-")
    return Seen(host_now, float(mtime) if exists else None, text if exists else None)


def _run(runner: Runner, script: str, stdin: bytes | None = None) -> str:
    result = runner.run(
        script, deadline=Deadline("lock", CALL_TIMEOUT), check=False, stdin=stdin, quiet=True
    )
    if result.exit_status == hoststate.NO_FLOCK:
        raise DeployError(
            "the host has no flock(1), which the deploy lock needs: install util-linux "
            "(Debian/Ubuntu) or the distribution's flock package"
        )
    if result.exit_status != 0:
        raise LockError(
            f"lock script exited {result.exit_status} (guard busy or host error): "
            f"{result.stderr.strip()[-200:]}"
        )
    return result.stdout


def read(runner: Runner, state: HostState) -> Seen:
    """The lock as it is now (no change)."""
    return _parse_seen(_run(runner, hoststate.lock_read(state)))


def swap(runner: Runner, state: HostState, expected: str | None, new: str | None) -> Seen | None:
    """One compare-and-swap on the host: None if the lock was `expected` and is now `new`
    (None: removed); else what is there instead."""
    out = _run(runner, hoststate.lock_swap(state, expected, new is not None),
               None if new is None else new.encode())  # fmt: skip
    status, _, rest = out.partition("\n")
    if status.strip() == "SWAPPED":
        return None
    return _parse_seen(rest)


def _why_takeable(seen: Seen, run_id: str, resumes: frozenset[str], expiry: float,
                  is_run_finished: RunFinished | None) -> str:  # fmt: skip
    """Why the lock as seen may be taken ("" if not)."""
    if seen.text is None:
        return "free"
    holder = seen.owner
    if holder is None:
        age = seen.host_now - (seen.mtime or seen.host_now)
        return f"unreadable for {age:.0f} s (over the {expiry:g} s expiry)" if age >= expiry else ""
    if holder.run_id == run_id or holder.run_id in resumes:
        return f"left by {holder.describe()}, which this run resumes"
    if holder.expired(seen.host_now):
        return f"stale: the lease of {holder.describe()} lapsed"
    if holder.process and process_gone(holder.process):
        return f"left by {holder.describe()}, whose deployer process is gone"
    if is_run_finished is not None and is_run_finished(holder.run_id):
        return f"left by {holder.describe()}, whose flow run has finished"
    return ""


def process_identity(pid: int) -> str:
    """A process as a later deployer on the same machine can tell it apart from any other:
    boot id, pid namespace, pid and start time ("" where /proc does not say, or for a process
    that has exited but is not reaped yet)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        state, started = fields[0], fields[19]
    except (OSError, IndexError):
        return ""
    return "" if state in ("Z", "X") else f"{boot}/{namespace}/{pid}/{started}"


def process_gone(process: str) -> bool:
    """True only when `process` (a process_identity) is provably not running: it ran on this
    boot of this machine, in this pid namespace, and its pid is absent or now another process."""
    boot, _, rest = process.partition("/")
    namespace, _, rest = rest.partition("/")
    pid, _, started = rest.partition("/")
    here = process_identity(os.getpid())
    if not (here and pid.isdigit() and started) or here.split("/")[:2] != [boot, namespace]:
        return False
    return process_identity(int(pid)) != process


def acquire(
    runner: Runner,
    state: HostState,
    make_owner: Callable[[float], LockOwner],
    *,
    expiry: float,
    wait: float,
    run_id: str,
    resumes: frozenset[str] = frozenset(),
    is_run_finished: RunFinished | None = None,
    poll: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> LockResult:
    """Take the lock (`make_owner(host_now)` says who we are), waiting up to `wait` for a live
    holder. A free lock, a lapsed lease, a holder whose deployer process is provably gone (same
    machine and boot) or whose flow run finished, one this run resumes, or a file unreadable for
    over one expiry is taken over with one compare-and-swap: of many takers of
    the same stale lock exactly one wins."""
    ends = clock() + wait
    while True:
        seen = read(runner, state)
        reason = _why_takeable(seen, run_id, resumes, expiry, is_run_finished)
        if reason:
            owner = make_owner(seen.host_now)
            if swap(runner, state, seen.text, owner.text()) is None:
                replaced = seen.owner
                offset = seen.host_now - time.time()
                return LockResult(state.lock, owner, offset, replaced, reason)
            continue  # someone else changed it between our read and swap: look again
        if clock() >= ends:
            raise _held(state, seen)
        sleep(poll)


def _held(state: HostState, seen: Seen) -> LockHeld:
    holder = seen.owner
    if holder is None:
        return LockHeld(
            f"{state.lock} is unreadable; it is taken over once it is older than "
            "steps.lock.expiry, or free it with `dockyard lock release --force`"
        )
    left = holder.expires_at - seen.host_now
    return LockHeld(
        f"{state.lock} is held by {holder.describe()}; its lease runs {left:.0f} s more unless "
        "renewed. Wait for that deploy, raise steps.lock.wait, or, if it is dead, "
        "`dockyard lock release --force`"
    )


def release(runner: Runner, state: HostState, run_id: str | None) -> bool:
    """Remove the lock if `run_id` holds it (None: whoever holds it); True if removed."""
    return "REMOVED" in _run(runner, hoststate.lock_remove(state, run_id))


class Lease:
    """A held lock, renewed in a background thread every expiry/RENEWALS_PER_EXPIRY. A renewal
    that finds the lock changed, or cannot reach the host before the lease would lapse, loses
    it: `check()` then raises LeaseLost, and the deploy stops before its next step."""

    def __init__(self, runner: Runner, state: HostState, held: LockResult, expiry: float,
                 log: Callable[[str], None] = print) -> None:  # fmt: skip
        self.runner = runner
        self.state = state
        self.owner = held.owner
        self.offset = held.offset
        self.expiry = expiry
        self.log = log
        self.lost = ""
        self._valid_until = time.monotonic() + expiry
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, daemon=True,
                                        name=f"lease {state.lock}")  # fmt: skip

    def start(self) -> Lease:
        self._thread.start()
        return self

    def renew(self) -> None:
        """Extend the lease by one expiry (one compare-and-swap); mark it lost if it changed."""
        started = time.monotonic()
        new = replace(self.owner, expires_at=time.time() + self.offset + self.expiry)
        try:
            seen = swap(self.runner, self.state, self.owner.text(), new.text())
        except (DeployError, LinkError, OSError) as exc:  # retried until the lease would lapse
            if time.monotonic() >= self._valid_until - self.expiry / 8:
                self.lost = f"the lease could not be renewed before it lapsed ({exc})"
            return
        if seen is not None:
            holder = seen.owner
            who = holder.describe() if holder else "nobody (the lock file is gone)"
            self.lost = f"the lock is now held by {who}"
            return
        self.owner = new
        self._valid_until = started + self.expiry

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.expiry / RENEWALS_PER_EXPIRY) and not self.lost:
            self.renew()
            if self.lost:
                self.log(f"deploy lease lost: {self.lost}")

    def check(self) -> None:
        """Raise LeaseLost if the lease is gone (its renewal failed or another run took it)."""
        if self.lost:
            raise LeaseLost(
                f"{self.state.lock}: {self.lost}; this deploy stopped before changing anything "
                "more. Rerun it once the other deploy is done (finished steps are skipped)"
            )

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CALL_TIMEOUT + 5)

    def release(self) -> bool:
        """Stop renewing and remove the lock if it is still ours."""
        self.stop()
        return release(self.runner, self.state, self.owner.run_id)
