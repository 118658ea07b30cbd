"""Rerun only what failed: resume after a failed step, after kill -9, and Retry on a served run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from dockyard.lab import catalog
from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.images import build
from tests.integration.deploykit import DOCKYARD, Deploy, Result, app, migrator, release_vars

MB = 1024 * 1024


def _with_host_runs(url: str, flow_run_id: str) -> list[str]:
    """The deploy run and its per-host subflow runs (where the step tasks run)."""
    body = {"flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}, "limit": 200}
    children = httpx.post(f"{url}/flow_runs/filter", json=body, timeout=10).json()
    return [flow_run_id, *(c["id"] for c in children)]


def _task_runs(deploy: Deploy, flow_run_id: str) -> dict[str, str]:
    """Task run name -> state name, as the Prefect API (and so the UI) shows them."""
    url = deploy.env["PREFECT_API_URL"]
    body = {"flow_runs": {"id": {"any_": _with_host_runs(url, flow_run_id)}}, "limit": 200}
    runs = httpx.post(f"{url}/task_runs/filter", json=body, timeout=10).json()
    return {r["name"]: r["state"]["name"] for r in runs}


def _task_run_states(deploy: Deploy, flow_run_id: str) -> dict[str, list[str]]:
    """Task run name -> the states of every task run of that name in the flow run (and in
    its host runs, a retry's fresh ones included)."""
    url = deploy.env["PREFECT_API_URL"]
    body = {"flow_runs": {"id": {"any_": _with_host_runs(url, flow_run_id)}}, "limit": 200}
    states: dict[str, list[str]] = {}
    for run in httpx.post(f"{url}/task_runs/filter", json=body, timeout=10).json():
        states.setdefault(run["name"], []).append(run["state"]["name"])
    return states


def _layer_gets(proxy: ProxyControl) -> list[str]:
    """Downloads of the images' data layers. The config blob and the 10 KB entry-script layer
    may be fetched again by a pull that joins one in flight: they are not what a re-pull costs."""
    layers = {
        f"/v2/{spec.repository}/blobs/{layer.digest}"
        for spec in catalog.lab_images()
        for layer in build(spec).layers
        if len(layer.data) > 64 * 1024
    }
    return [r["path"] for r in proxy.stats("registry")["requests"]
            if r["method"] == "GET" and r["path"] in layers]  # fmt: skip


def _migrations(deploy: Deploy) -> list[str]:
    out = deploy.host("docker run --rm -v shop_migrations:/data 127.0.0.1:5000/dockyard/busybox "
                      "cat /data/migrations.log")  # fmt: skip
    return out.split("\n")[:-1] if out else []


def _fail_migrations(deploy: Deploy, fail: bool) -> None:
    gate = f"{deploy.remote_dir}/gate"
    deploy.host(f"mkdir -p {gate} && touch {gate}/fail" if fail else f"rm -f {gate}/fail")


def _resume(deploy: Deploy, flow_run_id: str) -> Result:
    done = subprocess.run([DOCKYARD, "resume", flow_run_id, "--json"], capture_output=True,
                          text=True, timeout=600, env=deploy.env)  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


def test_resume_after_a_failed_migration_skips_completed_steps(
    deploy: Deploy, proxy: ProxyControl
) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.forget_images(app("v2"), migrator("v2"))
    _fail_migrations(deploy, True)
    proxy.reset_stats("registry")
    failed = deploy.deploy("v2")
    assert failed.code == 1 and failed.steps()["job migrate"]["state"] == "Failed"
    _fail_migrations(deploy, False)

    resumed = _resume(deploy, failed.report["flow_run_id"])
    assert resumed.code == 0, resumed.stderr[-3000:]
    steps = resumed.steps()
    for name in ("verify", "sync", "env", "job start-db"):
        assert steps[name]["state"] == "Cached", (name, steps[name])
    pulled = [n for n, s in steps.items() if n.startswith("pull ") and s["state"] != "Cached"]
    assert pulled == [], f"the resumed run pulled again: {pulled}"
    assert steps["job migrate"]["state"] == "Completed"
    assert steps["health"]["state"] == "Completed"
    api = _task_runs(deploy, resumed.report["flow_run_id"])
    assert api and "Cached" in api.values() and "Failed" not in api.values()
    flow = httpx.get(f"{deploy.env['PREFECT_API_URL']}/flow_runs/{resumed.report['flow_run_id']}",
                     timeout=10).json()  # fmt: skip
    assert flow["state"]["type"] == "COMPLETED"
    gets = _layer_gets(proxy)
    assert len(gets) == len(set(gets)), "an image was downloaded twice"
    assert deploy.version() == "v2"


def test_kill_9_mid_pull_then_resume_completes_without_downloading_twice(
    deploy: Deploy, proxy: ProxyControl
) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.forget_images(app("v3"), migrator("v3"))
    proxy.reset_stats("registry")
    proxy.set_faults("registry", throttle=4 * MB)
    sets = [f"--set={k}={v}" for k, v in release_vars("v3").items()]
    doomed = subprocess.Popen([DOCKYARD, "deploy", "--json", "-c", str(deploy.config), *sets],
                              env=deploy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while proxy.stats("registry")["down"] < 3 * MB and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=30)
    assert proxy.stats("registry")["down"] >= 3 * MB, "the pull never started"
    flow_run_id = _latest_flow_run(deploy)
    proxy.clear_faults("registry")

    resumed = _resume(deploy, flow_run_id)
    assert resumed.code == 0, resumed.stderr[-3000:]
    assert any("took over a lock" in n for n in resumed.host()["notes"])
    new_layers = 6 * MB + 4 * MB
    downloaded = proxy.stats("registry")["down"]
    assert downloaded < 2 * new_layers + MB, f"{downloaded / MB:.1f} MB downloaded"
    assert deploy.version() == "v3"


def _latest_flow_run(deploy: Deploy) -> str:
    url = deploy.env["PREFECT_API_URL"]
    body = {
        "sort": "START_TIME_DESC",
        "limit": 1,
        "flows": {"name": {"any_": ["dockyard-deploy"]}},
    }  # not a per-host subflow run
    return httpx.post(f"{url}/flow_runs/filter", json=body, timeout=10).json()[0]["id"]


@pytest.fixture()
def served(deploy: Deploy) -> Iterator[subprocess.Popen[str]]:
    """`dockyard serve` for the test's config, stopped afterwards."""
    process = subprocess.Popen(
        [DOCKYARD, "serve", "-c", str(deploy.config), "--name", "shop",
         *[f"--set={k}={v}" for k, v in release_vars("v1").items()]],
        env={**deploy.env, "PREFECT_RUNNER_POLL_FREQUENCY": "1"},  # not the 10 s default
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    url = deploy.env["PREFECT_API_URL"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        got = httpx.get(f"{url}/deployments/name/dockyard-deploy/shop", timeout=5)
        if got.status_code == 200:
            break
        time.sleep(0.5)
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _trigger(deploy: Deploy, version: str) -> subprocess.CompletedProcess[str]:
    sets = [f"--set={k}={v}" for k, v in release_vars(version).items()]
    return subprocess.run([DOCKYARD, "trigger", "shop", *sets, "--wait", "--timeout", "600"],
                          capture_output=True, text=True, timeout=660, env=deploy.env)  # fmt: skip


def test_served_deployment_trigger_and_the_ui_retry_button(
    deploy: Deploy, served: subprocess.Popen[str]
) -> None:
    good = _trigger(deploy, "v1")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "/runs/flow-run/" in good.stdout or "flow run" in good.stdout
    _fail_migrations(deploy, True)
    bad = _trigger(deploy, "v2")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    flow_run_id = bad.stdout.split("flow run ", 1)[1].split(":", 1)[0].strip()
    _fail_migrations(deploy, False)

    url = deploy.env["PREFECT_API_URL"]
    retry = {"state": {"type": "SCHEDULED", "name": "AwaitingRetry",
                       "message": "Retry from the UI"}, "force": True}  # fmt: skip
    answer = httpx.post(f"{url}/flow_runs/{flow_run_id}/set_state", json=retry, timeout=10)
    assert answer.status_code in (200, 201), answer.text
    deadline = time.monotonic() + 300
    state = "SCHEDULED"
    while state not in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
        assert time.monotonic() < deadline, f"retried run still {state}"
        time.sleep(1)
        state = httpx.get(f"{url}/flow_runs/{flow_run_id}", timeout=10).json()["state"]["type"]
    assert state == "COMPLETED", state
    states = _task_run_states(deploy, flow_run_id)
    assert sorted(states["job migrate vm1/shop"]) == ["Completed", "Failed"], states
    assert sorted(states["sync vm1/shop"]) == ["Cached", "Completed"], "retry must skip sync"
    assert sorted(states["verify vm1/shop"]) == ["Cached", "Completed"], states
    assert deploy.version() == "v2"
    assert _migrations(deploy) == ["applied v1", "applied v2"]
