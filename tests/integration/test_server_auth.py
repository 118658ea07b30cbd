"""`dockyard server` and Prefect's basic auth, with real processes and no lab: an open bind
without an auth string is refused; with one, the API answers 401 to a client without it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.deploykit import DOCKYARD

AUTH = "deployer:Wq7-not-a-real-password"
_READ_FLOWS = "from prefect import get_client\nwith get_client(sync_client=True) as c:\n" \
              "    print(len(c.read_flows()))"  # fmt: skip


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "AUTH_STRING" not in k and k != "PREFECT_API_URL"}
    return {**env, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            **extra}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_open_bind_without_an_auth_string_exits_2_and_starts_nothing(tmp_path: Path) -> None:
    port = _free_port()
    refused = subprocess.run([DOCKYARD, "server", "--host", "0.0.0.0", "--port", str(port)],
                             capture_output=True, text=True, timeout=60, env=_env(tmp_path),
                             stdin=subprocess.DEVNULL)  # fmt: skip
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "PREFECT_SERVER_API_AUTH_STRING" in refused.stderr
    assert "PREFECT_API_AUTH_STRING" in refused.stderr
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, "nothing listens"


@pytest.fixture()
def guarded(tmp_path: Path) -> Iterator[str]:
    """`dockyard server` on 127.0.0.1 with PREFECT_SERVER_API_AUTH_STRING; yields its API URL."""
    port = _free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [DOCKYARD, "server", "--host", "127.0.0.1", "--port", str(port)],
            env=_env(tmp_path, PREFECT_SERVER_API_AUTH_STRING=AUTH), stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def test_with_an_auth_string_a_client_without_it_gets_401(guarded: str, tmp_path: Path) -> None:
    body = {"limit": 1}
    assert httpx.post(f"{guarded}/flows/filter", json=body, timeout=30).status_code == 401
    wrong = httpx.post(f"{guarded}/flows/filter", json=body, timeout=30, auth=("deployer", "x"))
    assert wrong.status_code == 401
    user, password = AUTH.split(":", 1)
    right = httpx.post(f"{guarded}/flows/filter", json=body, timeout=30, auth=(user, password))
    assert right.status_code == 200, right.text
    # Prefect's own client, as a worker or CI uses it: PREFECT_API_AUTH_STRING or nothing
    for auth, code in (({"PREFECT_API_AUTH_STRING": AUTH}, 0), ({}, 1)):
        client = subprocess.run([sys.executable, "-c", _READ_FLOWS], capture_output=True,
                                text=True, timeout=120, stdin=subprocess.DEVNULL,
                                env=_env(tmp_path, PREFECT_API_URL=guarded, **auth))  # fmt: skip
        assert client.returncode == code, client.stderr[-2000:]
        if code:
            assert "401" in client.stderr
