"""Rollouts on the lab's two VMs: the canary first, a failed canary stops the rest, resume."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.layout import LabPorts
from tests.integration.deploykit import Deploy, release_vars, unhealthy_in


def _two_vms_canary_first(doc: dict[str, Any]) -> None:
    vm2 = {**doc["targets"][0], "name": "vm2", "port": LabPorts().ssh2}  # via the ssh2 route
    doc["targets"].append(vm2)
    doc["rollout"] = {"canary": 1, "batch": 1, "max_failed": 0}


def _host_runs(deploy: Deploy, flow_run_id: str) -> dict[str, str]:
    """The per-host subflow runs of a deploy run: host -> state type."""
    body = {"flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}}
    reply = httpx.post(f"{deploy.env['PREFECT_API_URL']}/flow_runs/filter", json=body, timeout=30)
    reply.raise_for_status()
    return {r["parameters"]["host"]: r["state_type"] for r in reply.json()}


@pytest.mark.deploy_config.with_args(_two_vms_canary_first)
def test_a_healthy_rollout_deploys_the_canary_first_one_host_run_each(deploy: Deploy) -> None:
    done = deploy.deploy("v1")
    assert done.code == 0, done.stderr[-2000:]
    vm1, vm2 = done.host("vm1"), done.host("vm2")
    assert (vm1["result"], vm2["result"]) == ("succeeded", "succeeded")
    assert vm1["finished"] <= vm2["started"]  # vm2's batch waited for the canary
    assert "rollout canary: the first 1 of 2 hosts" in vm1["notes"]
    assert "rollout batch 2: 1 of 2 hosts (batch 1)" in vm2["notes"]
    assert done.report["rollout"][0] == "stop once more than 0 of 2 hosts failed (max_failed 0)"
    assert done.report["not_started"] == []
    assert _host_runs(deploy, done.report["flow_run_id"]) == {
        "vm1": "COMPLETED", "vm2": "COMPLETED",
    }  # fmt: skip
    again = deploy.run("deploy", "--resume-rollout", done.report["flow_run_id"],
                       variables=release_vars("v1"))  # fmt: skip
    assert again.code == 0 and "nothing to resume" in again.stdout


@pytest.mark.deploy_config.with_args(_two_vms_canary_first)
def test_a_canary_failing_health_stops_the_rollout_and_resume_finishes_it(
    deploy: Deploy, proxy: ProxyControl
) -> None:
    unhealthy_in(deploy.bundle)
    first = deploy.run("deploy", "--json", "--host", "vm1", variables=release_vars("v1"))
    assert first.code == 0, first.stderr[-2000:]
    proxy.reset_stats("ssh2")
    broken = deploy.deploy("broken", migration="v2")
    assert broken.code == 1
    assert broken.host("vm1")["result"] == "rolled_back"
    vm2 = broken.host("vm2")
    assert vm2["result"] == "not started"
    assert vm2["steps"] == [] and vm2["started"] == ""
    assert vm2["notes"] == ["left on its release: the canary failed (vm1): the rollout stops"]
    assert broken.report["not_started"] == ["vm2"]
    assert broken.report["failed_hosts"] == ["vm1", "vm2"]
    assert proxy.stats("ssh2")["connections"] == 0  # vm2 was never even connected to
    assert deploy.version() == "v1"
    run_id = broken.report["flow_run_id"]
    assert _host_runs(deploy, run_id) == {"vm1": "FAILED"}
    resumed = deploy.run("deploy", "--json", "--resume-rollout", run_id,
                         variables=release_vars("v1"))  # fmt: skip
    assert resumed.code == 0, resumed.stderr[-2000:]
    assert list(resumed.report["hosts"]) == ["vm1", "vm2"]
    assert {h["result"] for h in resumed.report["hosts"].values()} == {"succeeded"}
    records = json.loads(deploy.run("releases", "--json", variables=release_vars("v1")).stdout)
    assert [r["result"] for r in records][:2] == ["succeeded", "rolled_back"]
