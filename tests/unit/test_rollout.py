"""Pure tests of the rollout section and plan: batches (canary first), the stop rules, reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from dockyard.config import ConfigError, RolloutConfig, load_config
from dockyard.rollout import RolloutPlan
from tests.unit.configkit import ENVIRON, VARIABLES, full_config, make_project, new_keypair, write

HOSTS = [f"vm{i}" for i in range(1, 9)]


def _plan(hosts: list[str] = HOSTS, **policy: Any) -> RolloutPlan:
    return RolloutPlan.make(hosts, RolloutConfig(**policy))


def test_the_default_is_one_batch_of_every_host_without_a_stop() -> None:
    plan = _plan()
    assert [b.hosts for b in plan.batches] == [tuple(HOSTS)]
    assert not plan.batches[0].canary
    assert (plan.max_failed, plan.parallel, plan.pause) == (8, 4, 0.0)
    assert plan.max_failed_reason == "no failure limit: every host is tried"
    assert plan.after(1, HOSTS[:7]).go is False  # every batch ran
    assert plan.after(1, []).reason == "every batch ran"


def test_the_canary_goes_first_then_batches_of_a_share_of_the_fleet_rounded_up() -> None:
    plan = _plan(canary=1, batch="25%")
    assert [b.hosts for b in plan.batches] == [
        ("vm1",), ("vm2", "vm3"), ("vm4", "vm5"), ("vm6", "vm7"), ("vm8",),
    ]  # fmt: skip
    assert [b.canary for b in plan.batches] == [True, False, False, False, False]
    assert plan.batches[0].reason == "canary: the first 1 of 8 hosts"
    assert plan.batches[1].reason == "batch 2: 2 of 8 hosts (batch 25%)"
    assert _plan(batch="10%").batches[0].hosts == ("vm1",)


def test_a_count_batch_and_a_canary_larger_than_the_fleet() -> None:
    assert [b.hosts for b in _plan(HOSTS[:5], batch=2).batches] == [
        ("vm1", "vm2"), ("vm3", "vm4"), ("vm5",),
    ]  # fmt: skip
    plan = _plan(HOSTS[:2], canary=3)
    assert [(b.hosts, b.canary) for b in plan.batches] == [(("vm1", "vm2"), True)]


def test_no_hosts_means_no_batches() -> None:
    plan = _plan([], canary=1)
    assert plan.batches == ()
    assert plan.after(0, []).go is False


def test_a_failed_canary_stops_the_rollout_even_without_a_failure_limit() -> None:
    plan = _plan(canary=1, batch=2)
    verdict = plan.after(1, ["vm1"])
    assert not verdict.go
    assert verdict.reason == "the canary failed (vm1): the rollout stops"
    assert verdict.not_started == tuple(HOSTS[1:])


def test_max_failed_lets_that_many_failures_through_and_stops_at_the_next() -> None:
    plan = _plan(canary=1, batch=2, max_failed=1)
    assert plan.max_failed_reason == "stop once more than 1 of 8 hosts failed (max_failed 1)"
    ok = plan.after(2, ["vm2"])
    assert ok.go and ok.reason.startswith("1 failed, within max_failed 1: batch 3")
    stop = plan.after(3, ["vm2", "vm4"])
    assert not stop.go and "2 hosts failed, more than max_failed 1" in stop.reason
    assert stop.not_started == ("vm6", "vm7", "vm8")


def test_max_failed_zero_and_a_percentage_rounded_down() -> None:
    assert not _plan(batch=4, max_failed=0).after(1, ["vm3"]).go
    plan = _plan(batch=2, max_failed="30%")  # 2.4 of 8 hosts: 2 may fail
    assert plan.max_failed == 2
    assert plan.after(2, ["vm1", "vm3"]).go and not plan.after(2, ["vm1", "vm2", "vm3"]).go


def test_the_section_accepts_counts_percentages_and_durations() -> None:
    policy = RolloutConfig(canary=1, batch="25%", max_failed="0", pause="1m30s", parallel=8)
    assert (policy.batch, policy.max_failed, policy.pause, policy.parallel) == ("25%", 0, 90.0, 8)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch", 0, "batch 0 is below 1"),
        ("batch", "0%", "bad batch '0%'"),
        ("batch", "150%", "bad batch '150%'"),
        ("max_failed", -1, "max_failed -1 is below 0"),
        ("max_failed", True, "bad max_failed True"),
        ("batch", "a quarter", "bad batch 'a quarter'"),
        ("parallel", 0, "greater than or equal to 1"),
        ("canary", -1, "greater than or equal to 0"),
    ],
)
def test_bad_values_are_refused_with_what_to_write(field: str, value: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RolloutConfig(**{field: value})


def test_deploy_yaml_carries_the_rollout_and_a_bad_one_names_its_field(tmp_path: Path) -> None:
    project = make_project(tmp_path, new_keypair())
    data = full_config()
    data["rollout"] = {"canary": 1, "batch": 2, "max_failed": "10%", "pause": "5s"}
    config = load_config(write(project, data), VARIABLES, environ=ENVIRON)
    assert config.rollout == RolloutConfig(canary=1, batch=2, max_failed="10%", pause=5.0)
    data["rollout"] = {"batch": "half"}
    with pytest.raises(ConfigError) as info:
        load_config(write(project, data), VARIABLES, environ=ENVIRON)
    assert [p.field for p in info.value.problems] == ["rollout.batch"]
    assert "percentage of the hosts" in str(info.value)
