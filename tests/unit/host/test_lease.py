"""The lease lock: its host scripts run by a real local sh (flock, compare-and-swap)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from dockyard.commands.hoststate.paths import HostState
from dockyard.deadline import Deadline
from dockyard.errors import StepTimeout
from dockyard.host import lease
from dockyard.host.lease import Lease, LeaseLost, LockHeld, LockOwner
from tests.fakes import FakeRunner
from tests.unit.shhost import ShHost

pytestmark = pytest.mark.timeout(60)  # acquire() loops: a regression must fail, not hang

EXPIRY = 120.0


@pytest.fixture
def state(tmp_path: Path) -> HostState:
    return HostState(str(tmp_path / "shop"))


def owner_at(run_id: str, at: float, expiry: float = EXPIRY) -> LockOwner:
    return LockOwner(run_id, "r-1", "ci", "runner:42", at, at + expiry)


def put(state: HostState, text: str, age: float = 0.0) -> None:
    Path(state.root).mkdir(parents=True, exist_ok=True)
    Path(state.lock).write_text(text)
    if age:
        then = time.time() - age
        os.utime(state.lock, (then, then))


def held_by(state: HostState) -> str | None:
    path = Path(state.lock)
    return json.loads(path.read_text())["run_id"] if path.exists() else None


class Sleeper:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def deadline(seconds: float = 30.0) -> Deadline:
    return Deadline("lock", seconds)


def take(state: HostState, run_id: str = "ours", **kwargs: Any) -> lease.LockResult:
    options: dict[str, Any] = {"expiry": EXPIRY, "wait": 0.0, "run_id": run_id,
                               "deadline": deadline(), **kwargs}  # fmt: skip
    return lease.acquire(ShHost(), state, lambda now: owner_at(run_id, now), **options)


class TestAcquire:
    def test_a_free_lock_is_taken_with_the_host_clock_expiry(self, state: HostState) -> None:
        result = take(state)
        assert result.replaced is None and result.reason == "free"
        written = json.loads(Path(state.lock).read_text())
        assert written["run_id"] == "ours"
        assert abs(written["expires_at"] - (time.time() + EXPIRY)) < 5

    def test_a_live_holder_waits_then_raises_naming_it_and_the_fixes(
        self, state: HostState
    ) -> None:
        put(state, owner_at("theirs", time.time()).text())
        sleeper = Sleeper()
        with pytest.raises(LockHeld) as info:
            take(state, wait=6.0, poll=2.0, sleep=sleeper.sleep, clock=sleeper.clock)
        assert "run theirs" in str(info.value) and "lock release --force" in str(info.value)
        assert sleeper.sleeps == [2.0, 2.0, 2.0]
        assert held_by(state) == "theirs"

    def test_a_lapsed_lease_is_taken_over_and_named(self, state: HostState) -> None:
        put(state, owner_at("dead", time.time() - 3 * EXPIRY).text())
        result = take(state)
        assert result.replaced is not None and result.replaced.run_id == "dead"
        assert "lapsed" in result.reason
        assert held_by(state) == "ours"

    def test_a_finished_holder_run_is_taken_over_at_once(self, state: HostState) -> None:
        put(state, owner_at("done", time.time()).text())
        asked: list[str] = []

        def finished(run_id: str) -> bool:
            asked.append(run_id)
            return run_id == "done"

        result = take(state, is_run_finished=finished)
        assert asked == ["done"] and "finished" in result.reason and held_by(state) == "ours"

    def test_a_running_holder_run_is_not_taken(self, state: HostState) -> None:
        put(state, owner_at("live", time.time()).text())
        with pytest.raises(LockHeld):
            take(state, is_run_finished=lambda _run: False)
        assert held_by(state) == "live"

    def test_a_resumed_run_and_our_own_run_are_taken_over(self, state: HostState) -> None:
        put(state, owner_at("failed-run", time.time()).text())
        assert "resumes" in take(state, resumes=frozenset({"failed-run"})).reason
        put(state, owner_at("ours", time.time()).text())
        assert "resumes" in take(state).reason

    def test_an_unreadable_lock_is_kept_until_it_is_older_than_one_expiry(
        self, state: HostState
    ) -> None:
        put(state, "{garbage")
        with pytest.raises(LockHeld, match="unreadable"):
            take(state)
        assert Path(state.lock).read_text() == "{garbage"
        put(state, "{garbage", age=EXPIRY + 10)
        assert "unreadable" in take(state).reason and held_by(state) == "ours"

    def test_many_concurrent_takers_of_one_stale_lock_exactly_one_wins(
        self, state: HostState
    ) -> None:
        for trial in range(5):
            put(state, owner_at("dead", time.time() - 3 * EXPIRY).text())
            winners, losers = race(state, [f"t{trial}-{i}" for i in range(12)])
            assert len(winners) == 1, (trial, winners)
            assert len(losers) == 11 and held_by(state) == winners[0]


def race(state: HostState, names: list[str]) -> tuple[list[str], list[str]]:
    """Every name tries to take the lock at the same moment, each in its own thread and sh."""
    barrier = threading.Barrier(len(names))
    winners: list[str] = []
    losers: list[str] = []

    def taker(name: str) -> None:
        barrier.wait()
        try:
            take(state, run_id=name)
            winners.append(name)
        except LockHeld:
            losers.append(name)

    threads = [threading.Thread(target=taker, args=(name,)) for name in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return winners, losers


class TestSwapAndRelease:
    def test_swap_only_replaces_what_was_expected(self, state: HostState) -> None:
        host = ShHost()
        assert lease.swap(host, state, None, "one", deadline()) is None
        seen = lease.swap(host, state, "other", "two", deadline())
        assert seen is not None and seen.text == "one"
        assert lease.swap(host, state, "one", None, deadline()) is None
        assert not Path(state.lock).exists()

    def test_release_removes_only_our_lock_unless_forced(self, state: HostState) -> None:
        put(state, owner_at("theirs", time.time()).text())
        assert lease.remove(ShHost(), state, "ours", deadline()) is False
        assert held_by(state) == "theirs"
        assert lease.remove(ShHost(), state, None, deadline()) is True
        assert held_by(state) is None
        assert lease.remove(ShHost(), state, None, deadline()) is False


def test_lock_calls_run_within_the_caller_s_deadline(state: HostState) -> None:
    """A spent step deadline stops the lock read before it reaches the host."""
    spent = Deadline("lock", 0.0)
    host = FakeRunner()
    with pytest.raises(StepTimeout, match="lock"):
        lease.read(host, state, spent)
    assert host.asked == []


def leased(state: HostState, expiry: float = EXPIRY) -> Lease:
    held = lease.acquire(ShHost(), state, lambda now: owner_at("ours", now, expiry),
                         deadline=deadline(), expiry=expiry, wait=0, run_id="ours")  # fmt: skip
    return Lease(ShHost(), state, held, expiry, log=lambda _m: None)


class TestLease:
    def test_renew_extends_the_expiry_on_the_host(self, state: HostState) -> None:
        held = leased(state)
        before = json.loads(Path(state.lock).read_text())["expires_at"]
        time.sleep(0.05)
        held.renew()
        after = json.loads(Path(state.lock).read_text())["expires_at"]
        assert after > before and held.lost == ""
        held.check()

    def test_a_taken_over_lock_makes_check_raise_lease_lost(self, state: HostState) -> None:
        held = leased(state)
        put(state, owner_at("thief", time.time()).text())
        held.renew()
        with pytest.raises(LeaseLost, match="run thief"):
            held.check()
        assert held.release(deadline()) is False and held_by(state) == "thief"

    def test_the_background_thread_keeps_a_short_lease_alive(self, state: HostState) -> None:
        held = leased(state, expiry=1.0).start()
        time.sleep(2.5)  # over two expiries: without renewal it would have lapsed
        seen = lease.read(ShHost(), state, deadline())
        assert seen.owner is not None and not seen.owner.expired(seen.host_now)
        held.check()
        assert held.release(deadline()) is True and held_by(state) is None

    def test_renewal_failing_past_the_expiry_loses_the_lease(self, state: HostState) -> None:
        held = leased(state, expiry=1.0)
        held.runner = Broken()
        held.renew()
        assert held.lost == ""  # still inside the held: try again
        time.sleep(1.0)
        held.renew()
        with pytest.raises(LeaseLost, match="could not be renewed"):
            held.check()


class Broken(ShHost):
    def run(self, cmd: Any, **kwargs: Any) -> Any:
        raise ConnectionError("link down")


@pytest.mark.parametrize("field", ["expires_at", "run_id", "acquired_at"])
def test_a_lock_of_the_wrong_shape_reads_as_unreadable(field: str) -> None:
    doc = {**json.loads(owner_at("theirs", 1000.0).text()), field: [1]}
    assert lease.Seen(1000.0, 1000.0, json.dumps(doc)).owner is None
    assert lease.Seen(1000.0, 1000.0, owner_at("theirs", 1000.0).text()).owner is not None


class TestDeadDeployer:
    def test_a_holder_whose_process_is_gone_is_taken_over_at_once(self, state: HostState) -> None:
        process = subprocess.Popen(["sleep", "60"])
        identity = lease.process_identity(process.pid)
        assert identity
        holder = replace(owner_at("killed", time.time()), process=identity)
        put(state, holder.text())
        with pytest.raises(LockHeld):
            take(state)  # alive: its lease is respected
        process.kill()
        process.wait()
        result = take(state)
        assert "deployer process is gone" in result.reason and held_by(state) == "ours"

    def test_only_a_process_of_this_boot_and_pid_namespace_is_judged_gone(self) -> None:
        boot, namespace, _pid, _started = lease.process_identity(os.getpid()).split("/")
        assert lease.process_gone(f"{boot}/{namespace}/999999999/1")
        assert not lease.process_gone(f"other-boot/{namespace}/999999999/1")
        assert not lease.process_gone(f"{boot}/pid:[1]/999999999/1")
        assert not lease.process_gone("")
        assert not lease.process_gone(lease.process_identity(os.getpid()))

    def test_an_exited_process_not_yet_reaped_is_gone(self) -> None:
        process = subprocess.Popen(["sleep", "60"])
        identity = lease.process_identity(process.pid)
        process.kill()
        deadline = time.monotonic() + 10
        while not lease.process_gone(identity) and time.monotonic() < deadline:
            time.sleep(0.05)  # SIGKILL lands asynchronously; nobody has reaped it yet
        assert lease.process_gone(identity)
        assert Path(f"/proc/{process.pid}").exists()  # still a zombie
        process.wait()

    def test_a_reused_pid_is_another_process(self) -> None:
        boot, namespace, pid, started = lease.process_identity(os.getpid()).split("/")
        assert lease.process_gone(f"{boot}/{namespace}/{pid}/{int(started) - 1}")
