"""The CLI's local Prefect API: starts, answers /health, stops; a deploy runs on it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from deployments.localapi import LocalApi
from tests.integration.deploykit import Deploy


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
