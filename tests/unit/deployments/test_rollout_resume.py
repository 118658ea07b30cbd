"""Which hosts `deploy --resume-rollout` deploys, from a run's per-host runs (no API)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from deployments.rollout_resume import RolloutNotReadable, hosts_to_resume, unfinished

TARGETS = ["vm1", "vm2", "vm3", "vm4"]


def _run(host: str, completed: bool) -> SimpleNamespace:
    state = SimpleNamespace(is_completed=lambda: completed)
    return SimpleNamespace(parameters={"host": host, "job": "<HostJob>"}, state=state)


def test_failed_and_never_started_hosts_are_resumed_in_config_order() -> None:
    runs = [_run("vm2", False), _run("vm1", True)]  # vm3, vm4: not started, no run
    assert unfinished(TARGETS, None, runs) == ["vm2", "vm3", "vm4"]


def test_the_runs_own_host_selection_bounds_what_is_resumed() -> None:
    assert unfinished(TARGETS, ["vm1", "vm3"], [_run("vm1", True)]) == ["vm3"]
    assert unfinished(TARGETS, ["vm1"], [_run("vm1", True)]) == []


def test_a_run_without_a_state_is_not_finished() -> None:
    run = SimpleNamespace(parameters={"host": "vm1"}, state=None)
    assert unfinished(TARGETS[:1], None, [run]) == ["vm1"]


def test_a_bad_flow_run_id_names_the_fix_before_asking_the_api() -> None:
    with pytest.raises(RolloutNotReadable, match="'nope' is not a flow run id; pass the flow run"):
        hosts_to_resume("nope", TARGETS)
