"""The step hook of tasks/policy: a journaled step runs once per attempt, a lost lease stops it."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.commands.hoststate.paths import HostState
from dockyard.host import journal, lease
from dockyard.host.lease import Lease, LeaseLost, LockOwner, LockResult
from dockyard.masking import Masker
from dockyard.session import DeployRequest
from tasks import policy
from tests.unit.shhost import ShHost

REQUEST = DeployRequest("deploy.yaml", run_id="run-1")


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HostState:
    hs = SimpleNamespace(project=SimpleNamespace(state=HostState(str(tmp_path / "shop"))),
                         log=lambda _line: None, mask=Masker())  # fmt: skip
    monkeypatch.setattr(policy, "host_stack", lambda *_a, **_k: hs)
    monkeypatch.setattr(policy, "get_run_logger", lambda: logging.getLogger("test"))
    monkeypatch.setattr(lease, "runner", lambda _hs: ShHost())
    monkeypatch.setattr(policy, "_journals", journal.Journals())
    return hs.project.state


def test_a_journaled_step_runs_once_then_comes_back_cached(state: HostState) -> None:
    calls: list[str] = []

    def pull(request: DeployRequest, host: str, project: str, attempt: str, subject: str) -> Any:
        calls.append(subject)
        return policy.Outcome(["done", subject], 1)

    step = policy.recovered("pull", journaled=True)(pull)
    assert step(REQUEST, "vm1", "shop", "a1", "app:v2").value == ["done", "app:v2"]
    again = step(REQUEST, "vm1", "shop", "a1", "app:v2")
    assert again.name == "Cached" and again.data == policy.Outcome(["done", "app:v2"], 0)
    assert calls == ["app:v2"]
    assert step(REQUEST, "vm1", "shop", "a2", "app:v2").value == ["done", "app:v2"]  # new attempt
    assert calls == ["app:v2", "app:v2"]


def test_after_the_lock_step_the_journal_is_read_from_the_host_again(state: HostState) -> None:
    calls: list[str] = []

    def up(request: DeployRequest, host: str, project: str, attempt: str) -> Any:
        calls.append(attempt)
        return policy.Outcome("up", 1)

    step = policy.recovered("up", journaled=True)(up)
    take_lock = policy.recovered("lock", journaled=False)(lambda request, host, project: None)
    assert step(REQUEST, "vm1", "shop", "a1").value == "up"
    Path(state.journal_entry("a1", "up")).unlink()  # e.g. removed by hand to run it again
    assert step(REQUEST, "vm1", "shop", "a1").name == "Cached"  # this lease's copy
    take_lock(REQUEST, "vm1", "shop")
    assert step(REQUEST, "vm1", "shop", "a1").value == "up"
    assert calls == ["a1", "a1"]


def test_a_lost_lease_stops_the_step_before_it_runs(
    state: HostState, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner = LockOwner("run-1", "r-1", "ci", "here:1", 0.0, 1.0)
    held = Lease(ShHost(), state, LockResult(state.lock, owner, 0.0), 120.0)
    held.lost = "the lock is now held by run other"
    monkeypatch.setitem(lease._leases, ("run-1", "vm1", "shop"), held)
    ran: list[bool] = []
    step = policy.recovered("up", journaled=False)(lambda request, host, project: ran.append(True))
    with pytest.raises(LeaseLost, match="run other"):
        step(REQUEST, "vm1", "shop")
    assert ran == []
    policy.recovered("unlock", journaled=False)(lambda request, host, project: ran.append(True))(
        REQUEST, "vm1", "shop"
    )
    assert ran == [True]  # unlock still runs: it only removes a lock that is ours
