"""Host runs through a Prefect work pool: two real process workers share a rollout's host
runs, and a Retry of one host run from the API reruns that host alone, skipping what finished."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dockyard.lab.layout import LabPorts
from tests.integration.deploykit import Deploy, pool_workers, release_vars

POOL = "dockyard-test"
FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def _pooled(parallel: int) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        doc["targets"][0]["pool"] = POOL
        doc["targets"].append({**doc["targets"][0], "name": "vm2", "port": LabPorts().ssh2})
        doc["rollout"] = {"parallel": parallel}
        doc["steps"]["lock"] = {"wait": "5m"}  # vm1 and vm2 share the lab engine's stack dir

    return edit


@pytest.fixture()
def workers(deploy: Deploy, tmp_path: Path) -> Iterator[list[Path]]:
    """The pool and its deployment for this test's config, and two process workers (one run
    at a time each); yields their log files."""
    with pool_workers(deploy, POOL, ("worker-a", "worker-b"), tmp_path) as logs:
        yield logs


def _api(deploy: Deploy, path: str, body: dict[str, Any] | None = None) -> Any:
    url = f"{deploy.env['PREFECT_API_URL']}{path}"
    reply = (
        httpx.post(url, json=body, timeout=30) if body is not None else httpx.get(url, timeout=30)
    )
    reply.raise_for_status()
    return reply.json()


def _host_runs(deploy: Deploy, flow_run_id: str) -> dict[str, dict[str, Any]]:
    """The deploy run's per-host runs by host."""
    body = {"flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}}
    return {r["parameters"]["host"]: r for r in _api(deploy, "/flow_runs/filter", body)}


def _task_states(deploy: Deploy, flow_run_id: str) -> dict[str, list[str]]:
    body = {"flow_runs": {"id": {"any_": [flow_run_id]}}}
    states: dict[str, list[str]] = {}
    for run in _api(deploy, "/task_runs/filter", body):
        states.setdefault(run["name"], []).append(run["state"]["name"])
    return states


def _fail_migrations(deploy: Deploy, fail: bool) -> None:
    gate = f"{deploy.remote_dir}/gate"
    deploy.host(f"mkdir -p {gate} && touch {gate}/fail" if fail else f"rm -f {gate}/fail")


@pytest.mark.deploy_config.with_args(_pooled(parallel=2))
def test_two_workers_share_the_host_runs_of_one_rollout(
    deploy: Deploy, workers: list[Path]
) -> None:
    done = deploy.deploy("v1")
    assert done.code == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert {h["result"] for h in done.report["hosts"].values()} == {"succeeded"}
    runs = _host_runs(deploy, done.report["flow_run_id"])
    assert sorted(runs) == ["vm1", "vm2"]
    for run in runs.values():
        assert run["state_type"] == "COMPLETED"
        assert run["deployment_id"] and run["work_pool_name"] == POOL
        assert run["infrastructure_pid"], "a worker's process ran it"
    vm1_steps = [s["name"] for s in done.host("vm1")["steps"]]
    assert "health" in vm1_steps and "unlock" in vm1_steps  # the report came back from the run
    # a worker names each run it started (another may have tried it first and been refused)
    taken = [{h for h in runs if f"Flow run 'deploy {h}' submitted to infrastructure"
              in log.read_text()} for log in workers]  # fmt: skip
    assert sorted(map(sorted, taken)) == [["vm1"], ["vm2"]], taken  # one run each


@pytest.mark.deploy_config.with_args(_pooled(parallel=1))
def test_a_retry_of_one_host_run_from_the_api_reruns_only_that_host(
    deploy: Deploy, workers: list[Path]
) -> None:
    assert deploy.deploy("v1").code == 0
    _fail_migrations(deploy, True)
    failed = deploy.deploy("v2")
    assert failed.code == 1
    assert {h: r["result"] for h, r in failed.report["hosts"].items()} == {
        "vm1": "failed", "vm2": "failed",
    }  # fmt: skip
    _fail_migrations(deploy, False)
    runs = _host_runs(deploy, failed.report["flow_run_id"])
    vm1_before = _task_states(deploy, runs["vm1"]["id"])
    retry = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry",
                       "message": "Retry from the UI"}, "force": True}  # fmt: skip
    _api(deploy, f"/flow_runs/{runs['vm2']['id']}/set_state", retry)
    deadline = time.monotonic() + 300
    state = "SCHEDULED"
    while state not in FINAL:
        assert time.monotonic() < deadline, f"retried run still {state}"
        time.sleep(1)
        state = _api(deploy, f"/flow_runs/{runs['vm2']['id']}")["state"]["type"]
    assert state == "COMPLETED"
    vm2 = _task_states(deploy, runs["vm2"]["id"])
    assert sorted(vm2["job migrate vm2/shop"]) == ["Completed", "Failed"], vm2
    for step in ("sync vm2/shop", "env vm2/shop", "verify vm2/shop", "job start-db vm2/shop"):
        assert vm2[step] == ["Cached", "Cached"], (step, vm2[step])  # vm1's attempt, journal
    assert _task_states(deploy, runs["vm1"]["id"]) == vm1_before  # vm1 was not rerun
    assert _api(deploy, f"/flow_runs/{runs['vm1']['id']}")["state"]["type"] == "FAILED"
    assert deploy.version() == "v2"
    again = deploy.run("deploy", "--json", "--resume-rollout", failed.report["flow_run_id"],
                       variables=release_vars("v2"))  # fmt: skip
    assert again.code == 0, again.stderr[-2000:]
    assert list(again.report["hosts"]) == ["vm1"]  # vm2's retried run counts as done
