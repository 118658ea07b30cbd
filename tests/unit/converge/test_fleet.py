"""The no-op fast path's host order: batch by batch as the rollout would, stopping at a change."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dockyard.config import RolloutConfig
from dockyard.converge import fleet
from dockyard.converge.verdict import Convergence
from dockyard.session import DeployRequest

UNCHANGED = Convergence("unchanged", ("release r-1 already runs as recorded",))
CHANGED = Convergence("changed", ("the host runs release r-0, not r-1",))


def _fake(monkeypatch: pytest.MonkeyPatch, rollout: RolloutConfig, changed: set[str]) -> list:
    asked: list[str] = []

    def check_host(request: DeployRequest, host: str) -> fleet.HostCheck:
        asked.append(host)
        return fleet.HostCheck(host, {"shop": CHANGED if host in changed else UNCHANGED}, 0.1)

    loaded = SimpleNamespace(config=SimpleNamespace(rollout=rollout))
    monkeypatch.setattr(fleet, "check_host", check_host)
    monkeypatch.setattr(fleet, "load", lambda request: loaded)
    return asked


def test_a_changed_canary_leaves_the_other_hosts_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake(monkeypatch, RolloutConfig(canary=1, batch=2), changed={"vm1"})
    checks = fleet.check_hosts(DeployRequest("d.yaml"), ["vm1", "vm2", "vm3"])
    assert asked == ["vm1"] and [c.unchanged for c in checks] == [False]


def test_every_host_is_read_when_all_are_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake(monkeypatch, RolloutConfig(canary=1, batch=2), changed=set())
    checks = fleet.check_hosts(DeployRequest("d.yaml"), ["vm1", "vm2", "vm3"])
    assert sorted(asked) == ["vm1", "vm2", "vm3"] and all(c.unchanged for c in checks)
    report = fleet.report("r-1", checks).to_json()
    assert report["flow_run_id"] == "" and report["result"] == "succeeded"
    assert report["hosts"]["vm2"]["unchanged"] == ["shop"]
    assert [s["name"] for s in report["hosts"]["vm2"]["steps"]] == ["converge"]


def test_a_change_in_a_batch_stops_before_the_next(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake(monkeypatch, RolloutConfig(batch=2), changed={"vm2"})
    checks = fleet.check_hosts(DeployRequest("d.yaml"), ["vm1", "vm2", "vm3", "vm4"])
    assert sorted(asked) == ["vm1", "vm2"] and len(checks) == 2
