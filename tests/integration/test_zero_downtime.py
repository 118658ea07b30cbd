"""Start-first releases of the example stack's app on the lab: under load with no failed
request, a release that never gets healthy (old one keeps serving), kill -9 mid-overlap then a
new runner, two replicas never below two healthy. One deployed stack, shared in order."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dockyard.lab.lab import Lab
from tests.integration.deploykit import (
    DB_PASSWORD,
    Deploy,
    PrefectServer,
    make_deploy,
    unhealthy_in,
)
from tests.integration.test_recovery import _kill, _new_runner, _start, _wait_for

ROUTER = "http://127.0.0.1:18080/version"


def _edit(doc: dict[str, Any]) -> None:
    stack = doc["stacks"][0]
    stack["up"] = {"stop_first": ["autoheal"], "start_first": ["app"], "drain": "0.5s",
                   "wait_timeout": "90s"}  # fmt: skip
    stack["health"] = {"compose": True}
    doc["steps"]["lock"] = {"wait": "60s", "expiry": "10s"}


@pytest.fixture(scope="module")
def zd(lab: Lab, prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
       ) -> Deploy:  # fmt: skip
    """The example stack with the app start-first (reached through the stack's router by
    Docker's DNS); each test deploys from the release the one before left."""
    kit = make_deploy(lab, tmp_path_factory.mktemp("zd"), prefect_server, "zero-downtime", _edit)
    unhealthy_in(kit.bundle)
    return kit


class Load:
    """A thread requesting the app through the stack's router (127.0.0.1:18080, caddy: it
    re-resolves `app` by Docker's DNS) every 20 ms until stopped, 5 s timeout each."""

    def __init__(self) -> None:
        self.answers: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        _wait_for(lambda: len(self.answers) >= 5, 30, "the load loop's first answers")

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stopped.is_set():
                try:
                    response = client.get(ROUTER)
                    ok = response.status_code == 200
                    self.answers.append(f"ok {response.text.strip()}" if ok else "FAIL")
                except httpx.HTTPError:
                    self.answers.append("FAIL")
                time.sleep(0.02)

    def stop(self) -> dict[str, int]:
        self.stopped.set()
        self.thread.join(timeout=10)
        counts: dict[str, int] = {}
        for answer in self.answers:
            counts[answer] = counts.get(answer, 0) + 1
        return counts


def _app_containers(kit: Deploy) -> list[dict[str, str]]:
    labels = f"label=com.docker.compose.project={kit.project}"
    out = kit.host(f"docker ps --all --filter {labels} --filter "
                   "label=com.docker.compose.service=app --format '{{json .}}'")  # fmt: skip
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _served_version(kit: Deploy, container: str) -> str:
    return kit.host(f"docker exec {container} wget -q -O- http://127.0.0.1:8080/version").strip()


def _deploy(kit: Deploy, version: str) -> Any:
    return kit.deploy(version, "v1")


def _deploy_under_load(kit: Deploy, version: str) -> tuple[Any, dict[str, int]]:
    """Deploy `version` while the load loop runs; the result and the load's counts."""
    load = Load()
    try:
        result = _deploy(kit, version)
    finally:
        counts = load.stop()
    return result, counts


def test_a_start_first_release_under_load_fails_no_request(zd: Deploy) -> None:
    zd.teardown()
    first = _deploy(zd, "v1")
    assert first.code == 0, first.stderr[-3000:]
    result, counts = _deploy_under_load(zd, "v2")
    assert result.code == 0, result.stderr[-3000:]
    assert counts.get("FAIL", 0) == 0, counts
    assert counts.get("ok v1", 0) > 0 and counts.get("ok v2", 0) > 0, counts
    steps = result.steps()
    assert steps["replace app"]["state"] == "Completed"
    note = next(n for n in result.host()["notes"] if "replace app" in n)
    assert re.search(r"new container healthy after \d+\.\d s, old drained, overlap \d+\.\d s", note)
    containers = _app_containers(zd)
    assert len(containers) == 1 and _served_version(zd, containers[0]["ID"]) == "v2"
    again = zd.compose("up", "--dry-run", "--detach", "--pull", "never", "app")
    assert "Recreate" not in again and "Creat" not in again, again


def _from(kit: Deploy, version: str) -> None:
    """Start from `version` (another suite's test may have taken the lab and its stack down
    since the test before; a release that already runs is skipped by convergence)."""
    start = _deploy(kit, version)
    assert start.code == 0, start.stderr[-3000:]


def test_a_release_that_never_gets_healthy_keeps_the_old_one_serving(zd: Deploy) -> None:
    _from(zd, "v2")
    before = _app_containers(zd)
    assert len(before) == 1
    result, counts = _deploy_under_load(zd, "broken")
    assert result.code != 0
    assert counts.get("FAIL", 0) == 0 and counts.get("ok v2", 0) > 0, counts
    assert "new container of app became unhealthy" in result.host()["error"]
    assert "old one keeps serving" in result.host()["error"]
    after = _app_containers(zd)
    assert [c["ID"] for c in after] == [before[0]["ID"]], after
    assert _served_version(zd, after[0]["ID"]) == "v2"
    assert DB_PASSWORD not in result.stdout + result.stderr


def test_kill_9_mid_overlap_then_a_new_runner_ends_with_one_new_container(
    zd: Deploy, tmp_path: Path
) -> None:
    _from(zd, "v2")
    doomed = _start(zd, "v3")
    try:
        _wait_for(
            lambda: len(_app_containers(zd)) == 2, 120, "the new app container beside the old"
        )
    finally:
        _kill(doomed)
    rerun = _new_runner(zd, "v3", tmp_path)
    assert rerun.code == 0, rerun.stderr[-3000:]
    containers = _app_containers(zd)
    assert len(containers) == 1, containers
    assert containers[0]["State"] == "running"
    assert _served_version(zd, containers[0]["ID"]) == "v3"


def test_an_http_check_gates_a_service_without_healthcheck(zd: Deploy) -> None:
    """The app without a healthcheck, `up.http_check` GETs the new container's own address
    through the link: a good release under load fails no request; a release whose check
    never passes (broken: /health answers 404) is removed, the old one keeps serving."""
    _from(zd, "v3")
    compose = zd.bundle / "docker-compose.yml"
    saved_config = zd.config.read_text()
    saved_compose = compose.read_text()
    doc = yaml.safe_load(saved_compose)
    del doc["services"]["app"]["healthcheck"]  # the image has none either
    compose.write_text(yaml.safe_dump(doc, sort_keys=False))
    config = yaml.safe_load(saved_config)
    up = config["stacks"][0]["up"]
    up["http_check"] = {"app": {"port": 8080, "path": "/health", "timeout": "1s"}}
    up["wait_timeout"] = "6s"
    zd.config.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        result, counts = _deploy_under_load(zd, "v2")
        assert result.code == 0, result.stderr[-3000:]
        assert counts.get("FAIL", 0) == 0, counts
        assert counts.get("ok v2", 0) > 0, counts
        assert result.steps()["replace app"]["state"] == "Completed"
        before = _app_containers(zd)
        assert len(before) == 1 and _served_version(zd, before[0]["ID"]) == "v2"
        assert "(healthy)" not in before[0]["Status"]  # no healthcheck: the http check gated it
        failed = _deploy(zd, "broken")
        assert failed.code != 0
        error = failed.host()["error"]
        assert re.search(
            r"new container of app did not answer 200 at "
            r"http://10\.[\d.]+:8080/health within \d+ s",
            error,
        ), error
        assert "last attempt: status 404" in error and "old one keeps serving" in error, error
        after = _app_containers(zd)
        assert [c["ID"] for c in after] == [before[0]["ID"]], after
        assert _served_version(zd, after[0]["ID"]) == "v2"
    finally:
        compose.write_text(saved_compose)
        zd.config.write_text(saved_config)


def _healthy_count(kit: Deploy) -> int:
    return sum(1 for c in _app_containers(kit) if "(healthy)" in c["Status"])


def test_two_replicas_are_replaced_without_dropping_below_two_healthy(zd: Deploy) -> None:
    compose = zd.bundle / "docker-compose.yml"
    doc = yaml.safe_load(compose.read_text())
    doc["services"]["app"]["deploy"] = {"replicas": 2}
    compose.write_text(yaml.safe_dump(doc, sort_keys=False))
    try:
        scaled = _deploy(zd, "v2")
        assert scaled.code == 0, scaled.stderr[-3000:]
        _wait_for(lambda: _healthy_count(zd) == 2, 60, "two healthy app containers")
        lowest, stop = [2], threading.Event()

        def watch() -> None:
            while not stop.is_set():
                lowest[0] = min(lowest[0], _healthy_count(zd))
                time.sleep(0.1)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            result = _deploy(zd, "v3")
        finally:
            stop.set()
            watcher.join(timeout=10)
        assert result.code == 0, result.stderr[-3000:]
        assert lowest[0] >= 2
        containers = _app_containers(zd)
        assert len(containers) == 2
        assert {_served_version(zd, c["ID"]) for c in containers} == {"v3"}
    finally:
        zd.teardown()
