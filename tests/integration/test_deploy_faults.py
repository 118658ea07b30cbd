"""The deploy survives what killed the shell script: a frozen SSH link mid-pull, a flaky
registry; and one broken target does not stop the others."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from dockyard.lab import catalog
from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.images import build
from tests.integration.deploykit import DOCKYARD, Deploy, app, migrator, unreachable

MB = 1024 * 1024


def _wait_for(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_link_frozen_during_the_pull_is_rebuilt_and_only_the_pull_retries(
    deploy: Deploy, proxy: ProxyControl
) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.forget_images(app("v3"), migrator("v3"))
    proxy.set_faults("registry", throttle=3 * MB)
    proxy.reset_stats("registry")
    froze = threading.Event()

    def freeze_mid_pull() -> None:
        # at 8 MB of ~40 the steps that run beside the pulls (verify, sync, ...) are done
        if _wait_for(lambda: proxy.stats("registry")["down"] > 8 * MB, 120):
            proxy.set_faults("ssh", freeze=True)
            froze.set()
            time.sleep(9)
            proxy.clear_faults("ssh")

    saboteur = threading.Thread(target=freeze_mid_pull, daemon=True)
    saboteur.start()
    result = deploy.deploy("v3")
    saboteur.join(timeout=30)
    assert froze.is_set(), (
        f"the pull never started: {result.stdout[-1500:]} {result.stderr[-1500:]}"
    )
    assert result.code == 0, result.stderr[-3000:]
    steps = result.steps()
    pulls = {name: s for name, s in steps.items() if name.startswith("pull ")}
    assert max(s["attempts"] for s in pulls.values()) >= 2, pulls
    before_pull = ["preflight", "lock", "plan", "verify", "sync", "env", "releases", "disk"]
    assert [steps[n]["attempts"] for n in before_pull] == [1] * len(before_pull)
    assert deploy.version() == "v3"
    downloaded = proxy.stats("registry")["down"]
    assert downloaded < 2 * 40 * MB, f"{downloaded / MB:.1f} MB for ~40 MB of new layers"


@pytest.mark.deploy_config.with_args(lambda doc: doc["images"].update(parallel=3))
def test_registry_503_for_one_image_retries_that_image_alone(
    deploy: Deploy, proxy: ProxyControl
) -> None:
    deploy.forget_images(app("v2"), migrator("v2"), "127.0.0.1:5000/dockyard/redis:7.2")
    proxy.reset_stats("registry")
    proxy.set_faults("registry", http_503={"count": 2, "path": "^/v2/dockyard/redis/manifests/"})
    result = deploy.deploy("v2")
    assert result.code == 0, result.stderr[-3000:]
    requests = proxy.stats("registry")["requests"]
    refused = [r for r in requests if r["answered_503"]]
    assert len(refused) == 2 and all("/dockyard/redis/" in r["path"] for r in refused)
    pulls = {n: s for n, s in result.steps().items() if n.startswith("pull ")}
    assert pulls["pull dockyard/redis:7.2"]["state"] == "Completed"
    assert all(s["attempts"] == 1 for n, s in pulls.items() if "redis" not in n), pulls
    for spec in (catalog.app("v2"), catalog.migrator("v2")):
        for layer in (x for x in build(spec).layers if len(x.data) > 64 * 1024):
            path = f"/v2/{spec.repository}/blobs/{layer.digest}"
            gets = [r for r in requests if r["path"] == path and r["method"] == "GET"]
            assert len(gets) <= 1, f"{spec.repository} layer {layer.digest[:19]} fetched twice"


def test_a_broken_target_does_not_stop_the_others(deploy: Deploy) -> None:
    doc = yaml.safe_load(deploy.config.read_text())
    doc["targets"].append({**unreachable(doc["targets"][0], deploy.lab), "name": "vm-broken"})
    deploy.config.write_text(yaml.safe_dump(doc))
    result = deploy.deploy("v1")
    assert result.code == 1
    report = result.report
    assert report["failed_hosts"] == ["vm-broken"]
    assert report["hosts"]["vm1"]["result"] == "succeeded"
    assert "LinkDown" in report["hosts"]["vm-broken"]["error"]
    assert deploy.version() == "v1"


def test_bad_configs_exit_2_without_contacting_the_host(
    deploy: Deploy, proxy: ProxyControl, tmp_path: Path
) -> None:
    good = deploy.config.read_text()
    cases = {
        "unknown key": good.replace("remote_dir:", "remote_dri:"),
        "bad duration": good.replace("wait_timeout: 2m", "wait_timeout: soon"),
        "missing bundle": good.replace(str(deploy.bundle), str(tmp_path / "nowhere")),
        "no host key": good.replace("known_hosts:", "known_hosts_file:"),
        "bad project": good.replace("project: shop", "project: Shop!"),
        "relative remote_dir": good.replace(f"remote_dir: {deploy.remote_dir}", "remote_dir: shop"),
        "yaml syntax": good + "\n  - [unclosed\n",
        "bad pull policy": good.replace("pull: always", "pull: sometimes"),
        "key file missing": good.replace("id_ed25519", "id_missing"),
        "keepalive count 0": good.replace("keepalive_count_max: 3", "keepalive_count_max: 0"),
        "parallel 0": good.replace("parallel: 3", "parallel: 0"),
    }
    proxy.reset_stats("ssh")
    for name, text in cases.items():
        assert text != good, name
        deploy.config.write_text(text)
        result = deploy.deploy("v1")
        assert result.code == 2, f"{name}: exit {result.code}\n{result.stderr[-1500:]}"
        assert str(deploy.config) in result.stderr, name
        assert "fix" in result.stderr.lower(), f"{name}: {result.stderr}"
    deploy.config.write_text(good)
    missing_var = subprocess.run(
        [DOCKYARD, "deploy", "-c", str(deploy.config)], capture_output=True, text=True,
        timeout=120, env=deploy.env,
    )  # fmt: skip
    assert missing_var.returncode == 2
    assert "APP_IMAGE" in missing_var.stderr and "--set APP_IMAGE=" in missing_var.stderr
    assert proxy.stats("ssh")["connections"] == 0
