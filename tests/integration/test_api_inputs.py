"""Runs created through the Prefect API with forged parameters are refused before any host is
touched: a served deployment (`dockyard serve`) and a pool deployment (`dockyard pool deploy`
with a real process worker), against the lab and a real Prefect server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.deploykit import DOCKYARD, REPO, Deploy, app, release_vars

FINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
POOL = "dockyard-trust"


def _call(deploy: Deploy, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    """One API call, retried as Prefect's client does while the server answers 503 (SQLite
    busy on a loaded machine)."""
    url = f"{deploy.env['PREFECT_API_URL']}{path}"
    for _ in range(10):
        reply = (httpx.post(url, json=body, timeout=30) if body is not None
                 else httpx.get(url, timeout=30))  # fmt: skip
        if reply.status_code != 503:
            break
        time.sleep(2)
    return reply


def _api(deploy: Deploy, path: str, body: dict[str, Any] | None = None) -> Any:
    reply = _call(deploy, path, body)
    reply.raise_for_status()
    return reply.json()


def _started(proc: subprocess.Popen[bytes], deploy: Deploy, path: str, log: Path) -> str:
    """Wait (bounded) until the API knows deployment `path`; its id."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        reply = httpx.get(f"{deploy.env['PREFECT_API_URL']}/deployments/name/{path}", timeout=10)
        if reply.status_code == 200:
            return str(reply.json()["id"])
        time.sleep(1)
    raise AssertionError(f"deployment {path} not registered: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)  # a worker can take 30 s and more to leave on SIGTERM
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def _spawn(argv: list[str], deploy: Deploy, log: Path) -> subprocess.Popen[bytes]:
    env = {**deploy.env, "PREFECT_RUNNER_POLL_FREQUENCY": "1", "PREFECT_WORKER_QUERY_SECONDS": "1",
           "PREFECT_LOGGING_LEVEL": "INFO"}  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=REPO, start_new_session=True,
        )  # fmt: skip


def _served_name(deploy: Deploy) -> str:
    """This test's deployment name (the session's Prefect server keeps earlier tests' ones)."""
    return "trust-" + Path(deploy.remote_dir).name[-40:]


@pytest.fixture()
def served(deploy: Deploy, tmp_path: Path) -> Iterator[str]:
    """`dockyard serve` of this test's config; yields the deployment's id."""
    sets = [f"--set={k}={v}" for k, v in release_vars("v1").items()]
    log = tmp_path / "serve.log"
    name = _served_name(deploy)
    proc = _spawn([DOCKYARD, "serve", "-c", str(deploy.config), *sets, "--name", name],
                  deploy, log)  # fmt: skip
    try:
        yield _started(proc, deploy, f"dockyard-deploy/{name}", log)
    finally:
        _stop(proc)


def _run(deploy: Deploy, deployment_id: str, parameters: dict[str, Any]) -> str:
    body = {"parameters": parameters, "state": {"type": "SCHEDULED"}}
    return str(_api(deploy, f"/deployments/{deployment_id}/create_flow_run", body)["id"])


def _final(deploy: Deploy, run_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = _api(deploy, f"/flow_runs/{run_id}")
        if run["state_type"] in FINAL:
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} still {run['state_type']}")


def _untouched(deploy: Deploy, run_id: str) -> None:
    """The run started no task and no host run, and the host has nothing of this stack."""
    tasks = _api(deploy, "/task_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    assert [t["name"] for t in tasks] == []
    children = {"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}}
    assert _api(deploy, "/flow_runs/filter", children) == []
    assert deploy.host(f"test -e {deploy.remote_dir} && echo present || echo absent").strip() == (
        "absent"
    )


def _allow_lab_registry(doc: dict[str, Any]) -> None:
    doc.setdefault("images", {})["allowed_registries"] = ["127.0.0.1:5000/dockyard"]


@pytest.mark.deploy_config.with_args(_allow_lab_registry)
def test_a_served_deployment_refuses_forged_parameters_before_touching_a_host(
    deploy: Deploy, served: str
) -> None:
    v1 = release_vars("v1")
    forged = {
        "actor": ({"actor": "alice"}, "actor may not be set on a run of deployment "
                  f"dockyard-deploy/{_served_name(deploy)}"),
        "resumes": ({"resumes": ["5b1f2f4e-4a4e-4f7e-9d3e-2f1d7c5e8a11"]},
                    "resumes may not be set"),
        "config_path": ({"config_path": "/dev/zero"}, "config_path of this run is not "
                        f"deployment dockyard-deploy/{_served_name(deploy)}'s config"),
        "variable": ({"variables": {**v1, "LAB_REGISTRY_PASSWORD": "x"}},
                     "variables LAB_REGISTRY_PASSWORD are not per-deploy images"),
        "registry": ({"variables": {**v1, "APP_IMAGE": "127.0.0.1:5002/dockyard/worker:1.0"}},
                     "is not from images.allowed_registries (127.0.0.1:5000/dockyard)"),
        "image": ({"variables": {**v1, "APP_IMAGE": "Evil/App:1"}}, "image reference"),
    }  # fmt: skip
    runs = {case: _run(deploy, served, params) for case, (params, _) in forged.items()}
    for case, run_id in runs.items():
        run = _final(deploy, run_id)
        assert run["state_type"] == "FAILED", (case, run["state"])
        assert forged[case][1] in run["state"]["message"], (case, run["state"]["message"])
        _untouched(deploy, run_id)


def test_a_served_deployment_deploys_its_config_as_itself_one_run_at_a_time(
    deploy: Deploy, served: str
) -> None:
    detail = _api(deploy, f"/deployments/{served}")
    assert detail["parameters"]["config_path"] == str(deploy.config.resolve())
    assert detail["global_concurrency_limit"]["limit"] == 1
    clicks = [_run(deploy, served, {"variables": release_vars("v1")}) for _ in range(2)]
    first, second = sorted((_final(deploy, r, timeout=600) for r in clicks),
                           key=lambda r: r["start_time"])  # fmt: skip
    assert [first["state_type"], second["state_type"]] == ["COMPLETED", "COMPLETED"]
    assert first["end_time"] <= second["start_time"], "the second click waited for the first"
    assert deploy.version() == "v1"
    history = deploy.host(f"cat {deploy.remote_dir}/.dockyard/releases.jsonl")
    records = [json.loads(line) for line in history.splitlines()]
    assert [r["actor"] for r in records] == [f"deployment dockyard-deploy/{_served_name(deploy)}"]


def _pooled(doc: dict[str, Any]) -> None:
    doc["targets"][0]["pool"] = POOL


@pytest.fixture()
def worker(deploy: Deploy, tmp_path: Path) -> Iterator[str]:
    """The pool deployment of this test's config and one process worker; yields its id."""
    setup = deploy.run("pool", "deploy")
    assert setup.code == 0, setup.stdout + setup.stderr
    prefect = str(Path(sys.executable).with_name("prefect"))
    log = tmp_path / "worker.log"
    proc = _spawn([prefect, "worker", "start", "--pool", POOL, "--type", "process", "--limit",
                   "2", "--name", "trust-worker"], deploy, log)  # fmt: skip
    try:
        yield _started(proc, deploy, f"dockyard-host/{POOL}", log)
    finally:
        _stop(proc)


@pytest.mark.deploy_config.with_args(_pooled)
def test_a_pool_deployment_refuses_forged_host_runs_and_keeps_the_release_secret(
    deploy: Deploy, worker: str
) -> None:
    base = {"host": "vm1", "release": "r-0000000000000000"}
    for forged in ({"actor": "alice"}, {"resumes": ["5b1f2f4e-4a4e-4f7e-9d3e-2f1d7c5e8a11"]},
                   {"variables": {"APP_IMAGE": app("v1")}}, {"parent_run_id": "x"}):  # fmt: skip
        reply = _call(deploy, f"/deployments/{worker}/create_flow_run",
                      {"parameters": {**base, **forged}})  # fmt: skip
        if reply.status_code < 300:  # accepted by the API: the run itself must refuse it
            run = _final(deploy, reply.json()["id"])
            assert run["state_type"] in ("FAILED", "CRASHED"), (forged, run["state"])
            _untouched(deploy, reply.json()["id"])
        else:
            assert reply.status_code in (409, 422), (forged, reply.text)
    for params, why in (({**base, "config_path": "/dev/zero"}, "config_path of this run is not "
                         f"deployment dockyard-host/{POOL}'s config"),
                        (base, "this host run has no parent deploy run")):  # fmt: skip
        run_id = _run(deploy, worker, params)
        run = _final(deploy, run_id)
        assert run["state_type"] == "FAILED" and why in run["state"]["message"], run["state"]
        _untouched(deploy, run_id)
    # a real deploy through the pool, with a worker whose config differs from the deployer's
    failed = deploy.deploy("v1", extra_env={"DB_PASSWORD": "another-password-on-the-deployer"})
    assert failed.code == 1
    error = failed.host("vm1")["error"]
    assert "the worker's config is not the deploy run's release" in error
    assert failed.report["release"] not in error and "r-" not in error
