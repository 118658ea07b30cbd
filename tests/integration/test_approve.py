"""A fleet rollout that waits for a person after the canary (rollout.approve: after_canary) on the
lab's isolated VMs vm3..vm5: the run pauses after vm3, the Prefect UI shows the form, a
rejection rolls vm3 back and leaves vm4 and vm5 on v1, an approval lets the rest deploy and the
approver is in `dockyard releases`."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from dockyard.lab.lab import Lab
from tests.integration.browserkit import page_text_until
from tests.integration.conftest import lab_turn
from tests.integration.deploykit import (
    DOCKYARD,
    REPO,
    Deploy,
    PrefectServer,
    Result,
    make_deploy,
    pool_workers,
    release_vars,
    vm_targets,
)

FLEET = ("vm3", "vm4", "vm5")
POOL = "approve-pool"  # vm5 of the gated config deploys in a pool worker's run
SCREENSHOT = REPO / "docs" / "approval-form.png"


def _fleet_targets(gate: bool) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        vm_targets(doc, FLEET)
        doc["rollout"] = {"canary": 1, "batch": 2}
        if gate:
            doc["rollout"].update(approve="after_canary", approve_timeout="5m")
            doc["targets"][FLEET.index("vm5")]["pool"] = POOL

    return edit


class Fleet:
    """Two configs of one stack (same remote dir) on vm3..vm5: `plain` rolls without a pause,
    `gated` waits for approval after the canary."""

    def __init__(self, lab: Lab, tmp: Path, server: PrefectServer) -> None:
        name = "approve-fleet"
        self.plain = make_deploy(lab, tmp / "plain", server, name, _fleet_targets(False))
        self.gated = make_deploy(lab, tmp / "gated", server, name, _fleet_targets(True))
        self.vms = {vm["name"]: vm for vm in lab.vms.describe() if vm["name"] in FLEET}
        self.relative = Path(self.plain.remote_dir).relative_to(lab.layout.vm_root)

    def on_vm(self, name: str, command: str) -> str:
        vm = self.vms[name]
        env = {**os.environ, "DOCKER_HOST": vm["docker_host"],
               "DOCKER_CONFIG": vm["docker_config"]}  # fmt: skip
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120,
                              env=env, stdin=subprocess.DEVNULL)  # fmt: skip
        return done.stdout

    def clean(self) -> None:
        for name, vm in self.vms.items():
            self.on_vm(name, "docker compose -p shop down --volumes --remove-orphans --timeout 2")
            shutil.rmtree(Path(vm["vm_root"]) / self.relative, ignore_errors=True)

    def version(self, host: str) -> str:
        """The app's /version on the VM's 127.0.0.1:18080, asked over dockyard's link."""
        sets = [f"--set={k}={v}" for k, v in release_vars("v1").items()]
        argv = [DOCKYARD, "exec", "-c", str(self.plain.config), *sets, "--host", host, "--",
                "sh", "-c", "wget -q -O- http://127.0.0.1:18080/version 2>/dev/null || "
                "curl -s http://127.0.0.1:18080/version"]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                              env=self.plain.env, cwd=REPO, stdin=subprocess.DEVNULL)  # fmt: skip
        return done.stdout.strip()

    def versions(self) -> dict[str, str]:
        return {name: self.version(name) for name in FLEET}


@pytest.fixture(scope="module")
def fleet(
    lab: Lab, prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    """vm3..vm5 up and the stack absent (set up and torn down under the lab's turn lock)."""
    with lab_turn():
        lab.up(vms=5)
        kit = Fleet(lab, tmp_path_factory.mktemp("approve"), prefect_server)
        kit.clean()
    yield kit
    with lab_turn():
        kit.clean()


def _on_v1(fleet: Fleet) -> None:
    """Every fleet VM on v1 (checked in one read each when it already is)."""
    done = fleet.plain.deploy("v1")
    assert done.code == 0, done.stderr[-2000:]


def _start_gated(deploy: Deploy) -> subprocess.Popen[str]:
    sets = [f"--set={k}={v}" for k, v in release_vars("v2").items()]
    return subprocess.Popen([DOCKYARD, "deploy", "--json", "-c", str(deploy.config), *sets],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, env=deploy.env, cwd=REPO)  # fmt: skip


def _paused_run(deploy: Deploy, process: subprocess.Popen[str], timeout: float = 300) -> str:
    """The id of the deploy run once it is paused (fails if the deploy ends first)."""
    body = {"flow_runs": {"name": {"any_": [f"deploy {deploy.config}"]},
                          "state": {"type": {"any_": ["PAUSED"]}}}}  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = httpx.post(f"{deploy.env['PREFECT_API_URL']}/flow_runs/filter", json=body,
                           timeout=10).json()  # fmt: skip
        if found:
            return found[0]["id"]
        if process.poll() is not None:
            out, err = process.communicate()
            raise AssertionError(f"the deploy ended without pausing:\n{out[-2000:]}{err[-2000:]}")
        time.sleep(1)
    raise AssertionError("the deploy did not pause in time")


def _answer(deploy: Deploy, run_id: str, who: str, *args: str) -> None:
    done = subprocess.run([DOCKYARD, "approve", run_id, *args], capture_output=True, text=True,
                          timeout=60, env={**deploy.env, "DOCKYARD_ACTOR": who},
                          stdin=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"deploy run {run_id} as {who}" in done.stdout


def _finish(process: subprocess.Popen[str]) -> Result:
    out, err = process.communicate(timeout=600)
    return Result(process.returncode, out, err)


def test_a_rejection_after_the_canary_rolls_it_back_and_starts_no_other_host(
    fleet: Fleet,
    browser: webdriver.Chrome,
    tmp_path: Path,
) -> None:
    _on_v1(fleet)
    process = _start_gated(fleet.gated)
    try:
        run_id = _paused_run(fleet.gated, process)
        assert fleet.versions() == {"vm3": "v2", "vm4": "v1", "vm5": "v1"}  # paused after vm3
        _shows_the_form(fleet.gated, browser, run_id, tmp_path)
        _answer(fleet.gated, run_id, "bob", "--reject", "--comment", "error rate up")
        done = _finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert done.code == 1, done.stderr[-2000:]
    assert done.host("vm3")["result"] == "rolled_back"
    assert done.report["not_started"] == ["vm4", "vm5"]
    reason = "rejected by bob: error rate up: the rollout stops"
    assert reason in done.report["rollout"]
    assert done.host("vm4")["notes"] == [f"left on its release: {reason}"]
    assert fleet.versions() == dict.fromkeys(FLEET, "v1")


def _shows_the_form(deploy: Deploy, driver: webdriver.Chrome, run_id: str, tmp: Path) -> None:
    """The paused run's page offers Resume; its form shows the canary's report and the fields."""
    ui = deploy.env["PREFECT_API_URL"].removesuffix("/api")
    driver.get(f"{ui}/runs/flow-run/{run_id}")
    assert "Paused" in page_text_until(driver, ["Paused", "Resume"], 60)
    driver.find_element(By.XPATH, "//button[normalize-space()='Resume']").click()
    wanted = ["Approve the next batch", "vm3: succeeded", "Approve", "Comment", "Approver"]
    text = page_text_until(driver, wanted, 60)
    driver.save_screenshot(str(tmp / "approval-form.png"))
    if os.environ.get("DOCKYARD_UPDATE_DOCS") == "1":
        shutil.copy(tmp / "approval-form.png", SCREENSHOT)
    missing = [w for w in wanted if w not in text]
    assert not missing, f"not on the page: {missing}\n{text[:3000]}"


def test_an_approval_lets_the_rest_deploy_and_the_approver_is_in_the_records(
    fleet: Fleet, tmp_path: Path
) -> None:
    with pool_workers(fleet.gated, POOL, ("worker-a",), tmp_path) as (worker_log,):
        process = _start_gated(fleet.gated)
        try:
            run_id = _paused_run(fleet.gated, process)
            _answer(fleet.gated, run_id, "alice", "--comment", "canary looks good")
            done = _finish(process)
        finally:
            if process.poll() is None:
                process.kill()
    assert "Flow run 'deploy vm5' submitted to infrastructure" in worker_log.read_text()
    assert done.code == 0, done.stderr[-2000:]
    assert "approved by alice: canary looks good" in done.report["rollout"]
    assert fleet.versions() == dict.fromkeys(FLEET, "v2")
    listed = fleet.gated.run("releases", variables=release_vars("v2"))
    assert listed.code == 0, listed.stderr[-2000:]
    last = {line.split()[0]: line for line in listed.stdout.splitlines()}
    assert "approved by" not in last["vm3"]  # the canary deployed before anyone was asked
    assert last["vm4"].endswith("approved by alice")  # a subflow of the deploy run
    assert last["vm5"].endswith("approved by alice")  # the pool worker's run read the answer
