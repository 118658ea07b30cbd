"""The CLI's local Prefect API really starts, answers /health, and stops with its log removed."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from deployments.localapi import LocalApi


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
