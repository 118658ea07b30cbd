"""Recovery on a new runner: kill -9 of the deployer, then the same deploy with a fresh
PREFECT_HOME takes over the lease, skips what the host journal says finished, never runs a
finished migration twice; the lease race, its renewal through a long pull, the lock verbs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from dockyard.config import LockStep
from dockyard.lab.faultproxy import ProxyControl
from tests.integration.deploykit import DOCKYARD, Deploy, Result, app, migrator, release_vars
from tests.integration.test_resume import _layer_gets, _migrations

MB = 1024 * 1024
EXPIRY = 10
MEASURED = Path(os.environ.get("DOCKYARD_RECOVERY_MEASURES", "/tmp/dockyard-recovery.jsonl"))
HOLD = ["sh", "-c", "while [ -e /gate/hold ]; do sleep 0.2; done; exec sh /srv/migrate.sh"]


def _short_lease(doc: dict[str, Any]) -> None:
    doc["steps"]["lock"] = {"wait": "60s", "expiry": f"{EXPIRY}s"}
    doc["stacks"][0]["jobs"][1]["command"] = HOLD


def _measure(**values: Any) -> None:
    """Keep a measurement for the report (one JSON line per test)."""
    with MEASURED.open("a") as out:
        out.write(json.dumps(values) + "\n")


def _start(deploy: Deploy, version: str) -> subprocess.Popen[bytes]:
    sets = [f"--set={k}={v}" for k, v in release_vars(version).items()]
    return subprocess.Popen([DOCKYARD, "deploy", "--json", "-c", str(deploy.config), *sets],
                            env=deploy.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def _kill(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _new_runner(deploy: Deploy, version: str, tmp_path: Path) -> Result:
    """The same deploy from a new CI runner: same Prefect API, nothing in PREFECT_HOME."""
    home = tmp_path / f"runner-{time.monotonic_ns()}"
    home.mkdir()
    return deploy.deploy(version, extra_env={"PREFECT_HOME": str(home)})


def _wait_for(check: Any, seconds: float, what: str) -> None:
    ends = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < ends, f"{what} did not happen within {seconds} s"
        time.sleep(0.2)


@pytest.mark.deploy_config.with_args(_short_lease)
def test_kill_9_mid_migration_then_a_new_runner_joins_it_and_never_runs_it_twice(
    deploy: Deploy, tmp_path: Path
) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.host(f"mkdir -p {deploy.remote_dir}/gate && touch {deploy.remote_dir}/gate/hold")
    doomed = _start(deploy, "v2")
    jobs = f"{deploy.remote_dir}/.dockyard/jobs"
    running = f"for d in {jobs}/*/migrate; do [ -f $d/pid ] && [ ! -f $d/exit ] && echo $d; done"
    _wait_for(lambda: deploy.host(running).strip(), 240, "the migration")  # v2's, not v1's
    _kill(doomed)
    killed = time.monotonic()
    deploy.host(f"rm -f {deploy.remote_dir}/gate/hold")  # the orphaned migration goes on alone

    again = _new_runner(deploy, "v2", tmp_path)
    took = round(time.monotonic() - killed, 1)
    assert again.code == 0, again.stderr[-3000:]
    steps = again.steps()
    for name in ("verify", "sync", "env", "job start-db"):
        assert steps[name]["state"] == "Cached", (name, steps[name])
    assert any("took over a lock" in n for n in again.host()["notes"])
    assert _migrations(deploy) == ["applied v1", "applied v2"]
    assert deploy.version() == "v2"
    _measure(test="kill mid-migration", takeover_to_success_s=took,
             migrations_run=len(_migrations(deploy)) - 1)  # fmt: skip


def _default_lock(doc: dict[str, Any]) -> None:
    doc["steps"].pop("lock", None)  # as a user runs it: steps.lock's defaults


@pytest.mark.deploy_config.with_args(_default_lock)
def test_kill_9_mid_pull_then_a_new_runner_downloads_nothing_finished(
    deploy: Deploy, proxy: ProxyControl, tmp_path: Path
) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.forget_images(app("v3"), migrator("v3"))
    proxy.reset_stats("registry")
    proxy.set_faults("registry", throttle=4 * MB)
    doomed = _start(deploy, "v3")
    _wait_for(lambda: proxy.stats("registry")["down"] >= 3 * MB, 120, "the pull")
    _kill(doomed)
    killed = time.monotonic()
    at_kill = proxy.stats("registry")["down"]
    proxy.clear_faults("registry")

    again = _new_runner(deploy, "v3", tmp_path)
    took = round(time.monotonic() - killed, 1)
    assert again.code == 0, again.stderr[-3000:]
    notes = again.host()["notes"]
    assert any("took over a lock" in n and "deployer process is gone" in n for n in notes), notes
    assert again.steps()["lock"]["seconds"] < LockStep().expiry  # not the dead lease waited out
    gets = _layer_gets(proxy)
    assert len(gets) == len(set(gets)), f"a layer was downloaded twice: {gets}"
    new_layers = 6 * MB + 4 * MB
    total = proxy.stats("registry")["down"]
    assert total < new_layers + 2 * MB, f"{total / MB:.1f} MB downloaded"
    assert deploy.version() == "v3"
    _measure(test="kill mid-pull", takeover_to_success_s=took, bytes_before_kill=at_kill,
             bytes_after_kill=total - at_kill,
             unfinished_at_kill=max(0, new_layers - at_kill))  # fmt: skip


def _stale_lock(deploy: Deploy) -> None:
    owner = {"run_id": "dead-runner", "release": "r-old", "actor": "ci", "deployer": "gone:1",
             "acquired_at": time.time() - 600, "expires_at": time.time() - 300}  # fmt: skip
    state = f"{deploy.remote_dir}/.dockyard"
    deploy.host(f"mkdir -p {state} && printf %s '{json.dumps(owner)}' > {state}/lock")


def _no_wait(doc: dict[str, Any]) -> None:
    doc["steps"]["lock"] = {"wait": "0s", "expiry": f"{EXPIRY}s"}


@pytest.mark.deploy_config.with_args(_no_wait)
def test_two_deploys_racing_for_a_stale_lock_exactly_one_wins(deploy: Deploy) -> None:
    _stale_lock(deploy)
    racers = [_start(deploy, "v1"), _start(deploy, "v1")]
    outcomes = []
    for racer in racers:
        out, err = racer.communicate(timeout=600)
        outcomes.append((racer.returncode, out.decode(), err.decode()))
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], [(c, e[-1500:]) for c, _, e in outcomes]
    loser = next(json.loads(out) for code, out, _ in outcomes if code == 1)
    assert "LockHeld" in loser["hosts"]["vm1"]["error"], loser["hosts"]["vm1"]["error"]


def _tiny_lease(doc: dict[str, Any]) -> None:
    doc["steps"]["lock"] = {"wait": "30s", "expiry": "4s"}


@pytest.mark.deploy_config.with_args(_tiny_lease)
def test_the_lease_is_renewed_through_a_pull_longer_than_its_expiry(
    deploy: Deploy, proxy: ProxyControl
) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.forget_images(app("v3"), migrator("v3"))
    proxy.set_faults("registry", throttle=1 * MB)  # 10 MB of layers: a pull of several expiries
    running = _start(deploy, "v3")
    samples = []
    while running.poll() is None:
        status = deploy.run("lock", "status", "--json", variables=release_vars("v3"))
        if status.code == 0:
            row = json.loads(status.stdout)[0]
            if row["run_id"]:
                samples.append(row["expires_in"])
        time.sleep(1)
    proxy.clear_faults("registry")
    out, err = running.communicate(timeout=60)
    assert running.returncode == 0, err.decode()[-3000:]
    steps = {s["name"]: s for s in json.loads(out)["hosts"]["vm1"]["steps"]}
    pull = steps["pull dockyard/app:v3"]
    assert pull["seconds"] > 4, pull  # the pull outlived the lease's expiry
    assert len(samples) >= 3 and all(left > 0 for left in samples), samples


def test_lock_status_names_the_holder_and_release_frees_it(deploy: Deploy) -> None:
    owner = {"run_id": "run-live", "release": "r-x", "actor": "alice", "deployer": "ci-7:42",
             "acquired_at": time.time(), "expires_at": time.time() + 3600}  # fmt: skip
    state = f"{deploy.remote_dir}/.dockyard"
    deploy.host(f"mkdir -p {state} && printf %s '{json.dumps(owner)}' > {state}/lock")
    variables = release_vars("v1")
    status = deploy.run("lock", "status", variables=variables)
    assert status.code == 0 and "run run-live" in status.stdout and "alice" in status.stdout
    refused = deploy.run("lock", "release", variables=variables)
    assert refused.code == 1 and "--force" in refused.stderr
    assert deploy.host(f"cat {state}/lock")
    freed = deploy.run("lock", "release", "--force", variables=variables)
    assert freed.code == 0 and "released" in freed.stdout, freed.stderr
    assert "free" in deploy.run("lock", "status", variables=variables).stdout
