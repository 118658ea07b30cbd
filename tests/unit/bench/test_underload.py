"""The release-under-load scenario's pure parts: the start-first config edit and the table."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.labsite import LabSite
from bench.underload import LoadMeasurement, markdown, write_start_first_config
from bench.workspace import Workspace


def test_the_start_first_config_adds_the_app_and_keeps_the_rest(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, LabSite(tmp_path, {}), "pw")
    doc = {"stacks": [{"project": "bench", "up": {"stop_first": ["autoheal"]}}], "disk": {}}
    ws.config.write_text(yaml.safe_dump(doc))
    written = yaml.safe_load(write_start_first_config(ws).read_text())
    assert written["stacks"][0]["up"] == {"stop_first": ["autoheal"], "start_first": ["app"]}
    assert written["disk"] == {} and yaml.safe_load(ws.config.read_text()) == doc


def test_the_table_shows_failures_by_kind_and_an_unsupported_contender() -> None:
    rows = [
        LoadMeasurement(
            "targeted-shell",
            "v1",
            "v2",
            True,
            2.8,
            417,
            190,
            {"5xx": 2, "ok": 227, "timeout": 188},
            5.2,
        ),
        LoadMeasurement("dockyard start-first", "v1", "v2", False, error="not supported: x"),
    ]
    lines = markdown(rows).splitlines()
    assert "| targeted-shell | yes | 2.8 | 417 | 190 | 5.20 | 5xx 2, timeout 188 |" in lines
    assert "| dockyard start-first | no | - | - | - | - | not supported: x |" in lines
