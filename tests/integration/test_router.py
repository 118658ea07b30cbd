"""The example stack's router (the lab's real caddy) sends requests to whichever app containers
exist: a second container gets traffic as soon as it runs, and the first one going away under
load costs no request."""

from __future__ import annotations

import time

import httpx

from bench.load import LoadGenerator
from tests.integration.deploykit import Deploy, app

URL = "http://127.0.0.1:18080/version"
EXTRA = "router-test-app-v2"


def _answers(count: int) -> list[str]:
    return [httpx.get(URL, timeout=5).text.strip() for _ in range(count)]


def _until_answered(version: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while version not in _answers(4):
        assert time.monotonic() < deadline, f"the router never sent a request to {version}"
        time.sleep(0.2)


def test_the_router_follows_the_app_containers_and_loses_nothing_when_one_goes(
    deploy: Deploy,
) -> None:
    first = deploy.deploy("v1")
    assert first.code == 0, first.stderr[-3000:]
    old = deploy.container_ids()["app"]
    network = f"{deploy.project}_default"
    deploy.host(f"docker rm -f {EXTRA} >/dev/null 2>&1; docker run -d --name {EXTRA} "
                f"--network {network} --network-alias app {app('v2')}")  # fmt: skip
    try:
        with LoadGenerator(URL) as load:
            _until_answered("v2")
            assert "v1" in _answers(10), "both containers are in the rotation"
            deploy.host(f"docker stop -t 5 {old}")
            time.sleep(3)
            seen = load.stop()
        assert seen.failed == 0, seen
        assert seen.longest_gap_s < 1.0, seen
        assert set(seen.versions) == {"v1", "v2"}, seen
        assert set(_answers(10)) == {"v2"}, "the stopped container is out of the rotation"
    finally:
        deploy.host(f"docker rm -f {EXTRA}")
