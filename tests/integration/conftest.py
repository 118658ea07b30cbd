"""Session fixtures for integration tests: one real lab per test session."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.lab import Lab
from dockyard.lab.layout import LabLayout
from tests.integration.browserkit import browser  # noqa: F401  (the UI tests' fixture)
from tests.integration.deploykit import Deploy, PrefectServer, make_deploy, start_prefect_server

REPO = Path(__file__).resolve().parents[2]
LAB_TURN_LOCK = "/tmp/dockyard-lab-turn.lock"
PREFECT_PORT = int(os.environ.get("DOCKYARD_TEST_PREFECT_PORT", "4299"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@contextmanager
def lab_turn() -> Iterator[None]:
    """The machine-wide lab lock, held while the block runs (a test, or a module's stack)."""
    with open(LAB_TURN_LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


@pytest.fixture(autouse=True)
def _one_test_at_a_time_on_the_lab() -> Iterator[None]:
    """Integration tests share one engine (fixed ports, compose project names): when several
    suites run on one machine, a machine-wide lock lets only one test at a time use the lab."""
    with lab_turn():
        yield


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The lab, started once; stopped at the end only if this session started it."""
    lab = Lab(LabLayout.from_env(os.environ.get("DOCKYARD_LAB_DIR", REPO / ".lab")))
    started_here = not lab.running()
    lab.up()
    yield lab
    if started_here and os.environ.get("DOCKYARD_KEEP_LAB") != "1":
        lab.down()


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """One Prefect server (SQLite) for the session; deploy tests run against it."""
    server = start_prefect_server(tmp_path_factory.mktemp("prefect"), PREFECT_PORT)
    yield server
    server.stop()


@pytest.fixture()
def deploy(
    lab: Lab, prefect_server: PrefectServer, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Deploy]:
    """The example stack configured for this test (own remote dir), torn down afterwards."""
    name = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower())[:60]
    edit = request.node.get_closest_marker("deploy_config")
    kit = make_deploy(lab, tmp_path, prefect_server, name, edit.args[0] if edit else None)
    kit.teardown()
    yield kit
    kit.teardown()


@pytest.fixture()
def proxy(lab: Lab) -> Iterator[ProxyControl]:
    """The lab's fault proxy with every route's faults cleared and counters reset."""
    control = ProxyControl(lab.layout.proxy_control_url)
    routes = ("ssh", "ssh2", "registry", "registry-auth")
    for route in routes:
        control.clear_faults(route)
        control.reset_stats(route)
    yield control
    for route in routes:
        control.clear_faults(route)


def ssh_argv(
    lab: Lab,
    *command: str,
    port: int | None = None,
    known_hosts: Path | None = None,
) -> list[str]:
    """The OpenSSH client command line for the lab VM, with strict host key checking."""
    return [
        "ssh",
        "-p",
        str(port or lab.layout.ports.ssh),
        "-i",
        str(lab.layout.client_key),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        f"UserKnownHostsFile={known_hosts or lab.layout.known_hosts}",
        "-o",
        "ConnectTimeout=10",
        "root@127.0.0.1",
        *command,
    ]


def ssh(
    lab: Lab,
    *command: str,
    timeout: float = 120,
    **kwargs: object,
) -> subprocess.CompletedProcess[str]:
    """Run a command on the lab VM with the OpenSSH client (a bounded call)."""
    return subprocess.run(
        ssh_argv(lab, *command, **kwargs),  # type: ignore[arg-type]
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
