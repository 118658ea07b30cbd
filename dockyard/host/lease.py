"""The host-side deploy lock as a lease: taken and renewed by compare-and-swap on the host, and
the lock step of a stack (take it, keep it renewed, open or resume the attempt, release it)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from dockyard.commands.hoststate.journal import MALFORMED, attempt_close, attempt_open
from dockyard.commands.hoststate.lease import NO_FLOCK, lock_read, lock_remove, lock_swap
from dockyard.commands.hoststate.paths import ATTEMPT, HostState
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.host import guard
from dockyard.runner import Runner
from dockyard.session import DeployRequest, HostStack
from dockyard.ssh.errors import LinkError

CALL_TIMEOUT = 30.0
RENEWALS_PER_EXPIRY = 6  # a 30 s lease is renewed every 5 s
RunFinished = Callable[[str], bool]


class LockHeld(DeployError):
    """Another deploy holds the host's lock for this stack."""


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
            owner = LockOwner(**json.loads(self.text))
        except (ValueError, TypeError):
            return None
        texts = (owner.run_id, owner.release, owner.actor, owner.deployer)
        times = (owner.acquired_at, owner.expires_at)
        fine = all(isinstance(v, str) for v in texts) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in times
        )
        return owner if fine else None  # a lock file of the wrong shape reads as unreadable


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


def _run(runner: Runner, script: str, deadline: Deadline, stdin: bytes | None = None) -> str:
    """One lock script, within the caller's deadline (CALL_TIMEOUT at most)."""
    result = runner.run(
        script, deadline=deadline, cap=CALL_TIMEOUT, check=False, stdin=stdin, quiet=True
    )
    if result.exit_status == NO_FLOCK:
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


def read(runner: Runner, state: HostState, deadline: Deadline) -> Seen:
    """The lock as it is now (no change)."""
    return _parse_seen(_run(runner, lock_read(state), deadline))


def swap(runner: Runner, state: HostState, expected: str | None, new: str | None,
         deadline: Deadline) -> Seen | None:  # fmt: skip
    """One compare-and-swap on the host: None if the lock was `expected` and is now `new`
    (None: removed); else what is there instead."""
    text = None if new is None else new.encode()
    out = _run(runner, lock_swap(state, expected, None if text is None else len(text)), deadline,
               text)  # fmt: skip
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
    deadline: Deadline,
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
    over one expiry is taken over with one compare-and-swap: of many takers of the same stale
    lock exactly one wins. Every call to the host is within `deadline`."""
    ends = clock() + wait
    while True:
        seen = read(runner, state, deadline)
        reason = _why_takeable(seen, run_id, resumes, expiry, is_run_finished)
        if reason:
            owner = make_owner(seen.host_now)
            if swap(runner, state, seen.text, owner.text(), deadline) is None:
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


def remove(runner: Runner, state: HostState, run_id: str | None, deadline: Deadline) -> bool:
    """Remove the lock if `run_id` holds it (None: whoever holds it); True if removed."""
    return "REMOVED" in _run(runner, lock_remove(state, run_id), deadline)


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
            renewal = Deadline("lease renewal", CALL_TIMEOUT)  # the renewing thread's own call
            seen = swap(self.runner, self.state, self.owner.text(), new.text(), renewal)
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

    def release(self, deadline: Deadline) -> bool:
        """Stop renewing and remove the lock if it is still ours."""
        self.stop()
        return remove(self.runner, self.state, self.owner.run_id, deadline)


OPEN = "open"

_leases: dict[tuple[str, str, str], Lease] = {}
_leases_lock = threading.Lock()


@dataclass(frozen=True)
class Locked:
    """The lock is held; `attempt` keys the journal and cached steps of this release here."""

    path: str
    attempt: str
    note: str


def _key(hs: HostStack, run_id: str) -> tuple[str, str, str]:
    return (run_id, hs.target.name, hs.stack.project)


def take(
    hs: HostStack, request: DeployRequest, deadline: Deadline,
    is_run_finished: RunFinished | None = None,
) -> Locked:  # fmt: skip
    """Check that the stack's state is safe to write through (guard.check, before any write),
    acquire the lease (waiting up to steps.wait), start renewing it, and open or resume
    the attempt. If anything fails after the lock was taken, it is released again."""
    settings = hs.config.steps.lock
    deployer = f"{socket.gethostname()}:{os.getpid()}"
    process = process_identity(os.getpid())

    def owner(host_now: float) -> LockOwner:
        return LockOwner(request.run_id, hs.loaded.release, request.actor, deployer,
                         host_now, host_now + settings.expiry, process)  # fmt: skip

    run = hs.runner
    guard.check(run, hs.project.state, hs.target.name, deadline)
    held = acquire(
        run, hs.project.state, owner, deadline=deadline, expiry=settings.expiry,
        wait=settings.wait,
        run_id=request.run_id, resumes=frozenset(request.resumes),
        is_run_finished=is_run_finished,
    )  # fmt: skip
    lease = Lease(run, hs.project.state, held, settings.expiry, hs.log)
    try:
        lease.start()
        opened = attempt(hs, deadline)
    except BaseException:
        lease.release(
            Deadline("unlock", CALL_TIMEOUT)
        )  # cleanup: even when the step's time is spent
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


def attempt(hs: HostStack, deadline: Deadline) -> str:
    """The token of this release's open attempt on the host, or a new one.

    An attempt stays open until the release is recorded (succeeded or rolled back): a resume,
    a Retry or a rerun of a release whose deploy did not finish reuses it, so its finished
    steps are skipped (from the journal on the host). Any other deploy opens a new attempt and
    runs every step; a wiped host has no attempt file at all. An open attempt whose token is
    not hex is host state nobody should trust: a new attempt is opened (every step runs)."""
    fresh = f"{hs.loaded.release} {OPEN} {uuid.uuid4().hex}"
    script = attempt_open(hs.project.state, hs.loaded.release, fresh)
    out = hs.runner.run(script, deadline=deadline, cap=CALL_TIMEOUT, quiet=True).stdout
    lines = out.strip().splitlines()
    if lines and lines[0] == MALFORMED:
        hs.log(f"{hs.project.state.attempt} held a token that is not hex: ignored, a new attempt "
               "runs every step")  # fmt: skip
    token = lines[-1].rsplit(" ", 1)[-1] if lines else ""
    if not ATTEMPT.fullmatch(token):
        raise DeployError(
            f"{hs.target.name}/{hs.stack.project}: {hs.project.state.attempt} gave the attempt "
            f"token {token[:80]!r}, which is not hex; remove that file and deploy again"
        )
    return token


def close_attempt(hs: HostStack, outcome: str, deadline: Deadline) -> None:
    """Mark the release's attempt finished (`outcome`: succeeded, rolled_back)."""
    script = attempt_close(hs.project.state, hs.loaded.release, outcome)
    hs.runner.run(script, deadline=deadline, cap=CALL_TIMEOUT, quiet=True)


def release(hs: HostStack, request: DeployRequest, deadline: Deadline) -> None:
    """Stop renewing and release the lock if this run holds it."""
    with _leases_lock:
        lease = _leases.pop(_key(hs, request.run_id), None)
    if lease is not None:
        lease.stop()
    remove(hs.runner, hs.project.state, request.run_id, deadline)
