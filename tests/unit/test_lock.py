"""The host-side deploy lock, its shell snippets run by a local sh standing in for the host."""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from dockyard import lock
from dockyard.errors import LockHeld
from dockyard.lock import LockOwner, LockResult
from dockyard.ssh.errors import CommandFailed
from dockyard.ssh.link import RunResult

pytestmark = pytest.mark.timeout(5)  # acquire() loops: a regression must fail, not hang

PATH = f"{tempfile.mkdtemp(prefix='dockyard-lock-')}/shop/.dockyard/lock"
NOW = 1_700_000_000.0


class FakeClock:
    """Stands in for the `time` module inside dockyard.lock; sleep() advances both clocks."""

    strftime = staticmethod(time.strftime)
    gmtime = staticmethod(time.gmtime)

    def __init__(self) -> None:
        self.mono = 100.0
        self.wall = NOW
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.mono

    def time(self) -> float:
        return self.wall

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.mono += seconds
        self.wall += seconds


class FakeHost:
    """The lock's host side, played by a real local `sh` on a temp directory: the lock's shell
    snippets run as they would on a target, only the SSH hop is left out."""

    def __init__(self, content: str | None = None) -> None:
        Path(PATH).parent.mkdir(parents=True, exist_ok=True)
        self.content = content
        self.commands: list[str] = []
        self.before_take_over: Callable[[], None] = lambda: None

    @property
    def content(self) -> str | None:
        path = Path(PATH)
        return path.read_text() if path.exists() else None

    @content.setter
    def content(self, text: str | None) -> None:
        path = Path(PATH)
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text)

    def run(
        self, cmd: str, *, timeout: float, stdin: bytes | None = None, check: bool = True
    ) -> RunResult:
        self.commands.append(cmd)
        if "TOOK" in cmd:
            self.before_take_over()
        done = subprocess.run(["sh", "-c", cmd], input=stdin or b"", capture_output=True,
                              timeout=timeout)  # fmt: skip
        result = RunResult(done.returncode, done.stdout.decode(), done.stderr.decode())
        if check and done.returncode:
            raise CommandFailed("fake", cmd, done.returncode, result.stderr)
        return result


def owner(run_id: str = "ours", *, expires_in: float = 3600, at: float = NOW) -> LockOwner:
    return LockOwner(run_id, "rel-1", "ci", "runner:42", at, at + expires_in)


def as_file(o: LockOwner) -> str:
    return json.dumps(asdict(o))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(lock, "time", fake)
    return fake


def acquire(host: FakeHost, clock: FakeClock, **kwargs: Any) -> LockResult:
    options: dict[str, Any] = {"wait": 10.0, "poll": 2.0, "sleep": clock.sleep, **kwargs}
    return lock.acquire(host, PATH, owner(), **options)  # type: ignore[arg-type]


class TestAcquire:
    def test_free_lock_is_taken_at_once(self, clock: FakeClock) -> None:
        host = FakeHost()
        assert acquire(host, clock) == LockResult(PATH)
        assert json.loads(host.content or "") == asdict(owner())
        assert clock.sleeps == []
        assert len(host.commands) == 1

    def test_live_holder_waits_then_raises_naming_the_holder_and_the_fix(
        self, clock: FakeClock
    ) -> None:
        theirs = as_file(owner("their-run", expires_in=7200))
        host = FakeHost(theirs)
        with pytest.raises(LockHeld) as info:
            acquire(host, clock, wait=10.0, poll=2.0)
        message = str(info.value)
        assert "their-run" in message
        assert PATH in message
        assert "steps.lock.wait" in message
        assert clock.sleeps == [2.0] * 5
        assert host.content == theirs
        assert not any(c.startswith("[") for c in host.commands)

    def test_no_wait_raises_without_sleeping(self, clock: FakeClock) -> None:
        host = FakeHost(as_file(owner("their-run")))
        with pytest.raises(LockHeld):
            acquire(host, clock, wait=0)
        assert clock.sleeps == []

    def test_holder_that_finishes_while_we_wait(self, clock: FakeClock) -> None:
        host = FakeHost(as_file(owner("their-run")))

        def sleep(seconds: float) -> None:
            clock.sleep(seconds)
            if len(clock.sleeps) == 2:
                host.content = None  # their release

        assert acquire(host, clock, sleep=sleep) == LockResult(PATH)
        assert json.loads(host.content or "")["run_id"] == "ours"
        assert len(clock.sleeps) == 2

    def test_expired_holder_is_taken_over_as_stale(self, clock: FakeClock) -> None:
        old = owner("crashed-run", expires_in=60, at=NOW - 3600)
        host = FakeHost(as_file(old))
        result = acquire(host, clock)
        assert result.replaced == old
        assert result.reason.startswith("stale: run crashed-run")
        assert result.reason.endswith("expired")
        assert json.loads(host.content or "")["run_id"] == "ours"
        assert clock.sleeps == []

    def test_expiry_is_read_from_the_wall_clock(self, clock: FakeClock) -> None:
        host = FakeHost(as_file(owner("slow-run", expires_in=5)))

        def sleep(seconds: float) -> None:
            clock.wall += seconds  # only wall time passes: the holder expires during the wait
            clock.sleeps.append(seconds)

        result = acquire(host, clock, wait=1000.0, sleep=sleep)
        assert result.reason.startswith("stale")
        assert clock.sleeps == [2.0, 2.0, 2.0]

    @pytest.mark.parametrize("previous", ["resumed-run", "ours"])
    def test_lock_left_by_a_run_we_resume_is_taken_over(
        self, clock: FakeClock, previous: str
    ) -> None:
        left = owner(previous, expires_in=7200)
        host = FakeHost(as_file(left))
        result = acquire(host, clock, resumes=frozenset({"resumed-run"}))
        assert result.replaced == left
        assert "which this run resumes" in result.reason
        assert json.loads(host.content or "") == asdict(owner())

    def test_holder_not_in_resumes_is_not_taken_over(self, clock: FakeClock) -> None:
        host = FakeHost(as_file(owner("their-run")))
        with pytest.raises(LockHeld, match="their-run"):
            acquire(host, clock, wait=0, resumes=frozenset({"other-run"}))

    def test_unreadable_lock_is_taken_over_with_the_reason(self, clock: FakeClock) -> None:
        host = FakeHost("not json at all")
        result = acquire(host, clock)
        assert result.replaced is None
        assert result.reason == "unreadable lock file ('not json at all')"
        assert json.loads(host.content or "")["run_id"] == "ours"

    def test_take_over_lost_to_another_deployer_waits_for_the_new_holder(
        self, clock: FakeClock
    ) -> None:
        host = FakeHost(as_file(owner("crashed-run", expires_in=1, at=NOW - 100)))
        winner = as_file(owner("faster-run"))

        def someone_else_takes_it() -> None:
            host.content = winner

        host.before_take_over = someone_else_takes_it
        with pytest.raises(LockHeld, match="faster-run"):
            acquire(host, clock, wait=4.0)
        assert host.content == winner

    def test_unreadable_lock_with_surrounding_blanks_does_not_spin(self, clock: FakeClock) -> None:
        host = FakeHost("  garbage  ")
        original_run = host.run

        def bounded_run(cmd: str, **kwargs: Any) -> RunResult:
            if len(host.commands) > 50:
                raise RuntimeError("acquire() is spinning")
            return original_run(cmd, **kwargs)

        host.run = bounded_run  # type: ignore[method-assign]
        result = acquire(host, clock)
        assert result.reason.startswith("unreadable")


class TestReleaseAndRead:
    def test_release_removes_our_own_lock(self) -> None:
        host = FakeHost(as_file(owner("ours")))
        lock.release(host, PATH, "ours")  # type: ignore[arg-type]
        assert host.content is None

    @pytest.mark.parametrize("other", ["their-run", "ours-2", "our"])
    def test_release_never_removes_someone_elses(self, other: str) -> None:
        theirs = as_file(owner(other))
        host = FakeHost(theirs)
        lock.release(host, PATH, "ours")  # type: ignore[arg-type]
        assert host.content == theirs

    def test_owner_expired_and_describe(self) -> None:
        o = owner("r1", expires_in=10, at=0.0)
        assert not o.expired(9.99)
        assert o.expired(10.0)
        assert (
            o.describe()
            == "run r1 (release rel-1, by ci from runner:42, since 1970-01-01 00:00:00 UTC)"
        )
