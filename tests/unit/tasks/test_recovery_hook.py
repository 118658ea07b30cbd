"""The recovery hook (tasks/recovery): a journaled step runs once per attempt, a lost lease stops
it, and the journal's calls run within the step's deadline."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.commands.hoststate.paths import HostState
from dockyard.deadline import Deadline
from dockyard.errors import StepTimeout
from dockyard.host import journal, lease
from dockyard.host.lease import Lease, LeaseLost, LockOwner, LockResult
from dockyard.masking import Masker
from dockyard.session import DeployRequest
from tasks import recovery
from tasks.outcome import Outcome
from tests.unit.shhost import ShHost

REQUEST = DeployRequest("deploy.yaml", run_id="run-1")


@pytest.fixture
def hs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(recovery, "journals", journal.Journals(recovery.RESULT_TYPES))
    return SimpleNamespace(project=SimpleNamespace(state=HostState(str(tmp_path / "shop"))),
                           log=lambda _line: None, mask=Masker(), runner=ShHost())  # fmt: skip


def call(hs: Any, name: str, journaled: bool, run: Any, deadline: Deadline | None = None,
         **bound: Any) -> Any:  # fmt: skip
    arguments = {"request": REQUEST, "host": "vm1", "project": "shop", **bound}
    return recovery.recovered(name, journaled, arguments, hs, deadline or Deadline(name, 30), run)


def test_a_journaled_step_runs_once_then_comes_back_cached(hs: Any) -> None:
    calls: list[str] = []

    def pull() -> Outcome:
        calls.append("app:v2")
        return Outcome(["done", "app:v2"], 1)

    assert call(hs, "pull", True, pull, attempt="a1", subject="app:v2").value == ["done", "app:v2"]
    again = call(hs, "pull", True, pull, attempt="a1", subject="app:v2")
    assert again.name == "Cached" and again.data == Outcome(["done", "app:v2"], 0)
    assert calls == ["app:v2"]
    assert call(hs, "pull", True, pull, attempt="a2", subject="app:v2").value == ["done", "app:v2"]
    assert calls == ["app:v2", "app:v2"]  # a new attempt runs it again


def test_after_the_lock_step_the_journal_is_read_from_the_host_again(hs: Any) -> None:
    calls: list[str] = []

    def up() -> Outcome:
        calls.append("a1")
        return Outcome("up", 1)

    assert call(hs, "up", True, up, attempt="a1").value == "up"
    Path(hs.project.state.journal_entry("a1", "up")).unlink()  # e.g. removed by hand
    assert call(hs, "up", True, up, attempt="a1").name == "Cached"  # this lease's copy
    call(hs, "lock", False, lambda: Outcome(None, 1))
    assert call(hs, "up", True, up, attempt="a1").value == "up"
    assert calls == ["a1", "a1"]


def test_the_journal_read_runs_within_the_step_s_deadline(hs: Any) -> None:
    ran: list[bool] = []
    with pytest.raises(StepTimeout, match="up"):
        call(hs, "up", True, lambda: ran.append(True), Deadline("up", 0.0), attempt="a1")
    assert ran == [] and hs.runner.commands == []


def test_a_lost_lease_stops_the_step_before_it_runs(
    hs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = hs.project.state
    owner = LockOwner("run-1", "r-1", "ci", "here:1", 0.0, 1.0)
    held = Lease(ShHost(), state, LockResult(state.lock, owner, 0.0), 120.0)
    held.lost = "the lock is now held by run other"
    monkeypatch.setitem(lease._leases, ("run-1", "vm1", "shop"), held)
    ran: list[bool] = []
    with pytest.raises(LeaseLost, match="run other"):
        call(hs, "up", False, lambda: ran.append(True))
    assert ran == []
    call(hs, "unlock", False, lambda: ran.append(True))
    assert ran == [True]  # unlock still runs: it only removes a lock that is ours
