"""The CLI's local Prefect API: starts, answers /health, stops; a deploy runs on it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from deployments.localapi import LocalApi
from tests.integration.deploykit import DOCKYARD, REPO, Deploy, release_vars


def test_the_local_api_starts_answers_and_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    api = LocalApi()
    api.start()
    try:
        api.wait()
        with urllib.request.urlopen(f"{api.url}/health", timeout=5) as answer:
            assert json.loads(answer.read()) is True
        assert (tmp_path / "prefect.db").exists()
    finally:
        api.stop()
    assert api.process is None and not api.log.exists()
    template = next((tmp_path / "cache" / "dockyard").glob("prefect-*.db"))
    assert template.stat().st_size > 0 and LocalApi().fresh is False


def test_a_deploy_without_an_api_url_runs_on_the_local_api(deploy: Deploy, tmp_path: Path) -> None:
    """Ephemeral mode end to end: the flow runs on the local API and its report comes back."""
    env = {k: v for k, v in deploy.env.items() if k != "PREFECT_API_URL"}
    deploy.env = {**env, "PREFECT_HOME": str(tmp_path / "home"),
                  "XDG_CACHE_HOME": str(tmp_path / "cache")}  # fmt: skip
    result = deploy.deploy("v1")
    assert result.code == 0, result.stderr[-2000:]
    assert result.report["result"] == "succeeded"
    assert (tmp_path / "home" / "prefect.db").exists()


def test_a_deploy_without_a_server_exits_within_3_s_of_its_report(
    deploy: Deploy, tmp_path: Path
) -> None:
    """Prefect's default logging (INFO to the API), a fresh PREFECT_HOME, no PREFECT_API_URL:
    the run's logs reach the local API before it stops, so nothing is left to retry at exit."""
    env = {k: v for k, v in deploy.env.items()
           if k not in ("PREFECT_API_URL", "PREFECT_LOGGING_LEVEL", "PREFECT_HOME")}  # fmt: skip
    env |= {"PREFECT_HOME": str(tmp_path / "home"), "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "PYTHONUNBUFFERED": "1"}  # fmt: skip
    argv = [DOCKYARD, "deploy", "-c", str(deploy.config), "--force",
            *(f"--set={k}={v}" for k, v in release_vars("v1").items())]  # fmt: skip
    stderr = tmp_path / "stderr"
    with stderr.open("w") as err:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
                                   stdin=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
        assert process.stdout is not None
        reported = None
        for line in process.stdout:
            if line.startswith("deploy ") and reported is None:
                reported = time.monotonic()
        code = process.wait(timeout=600)
        exited = time.monotonic()
    log = stderr.read_text()
    assert code == 0 and reported is not None, log[-3000:]
    assert exited - reported < 3.0, f"exited {exited - reported:.1f} s after the report"
    assert "Error logging to API" not in log and "telemetry" not in log.lower(), log[-3000:]
    with sqlite3.connect(tmp_path / "home" / "prefect.db") as db:
        messages = [m for (m,) in db.execute("SELECT message FROM log")]
    assert any(m.startswith("Finished in state Completed") for m in messages), messages[-5:]
