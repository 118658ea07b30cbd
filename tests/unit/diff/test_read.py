"""The live side of a diff from the remote scripts' output (parsing only, no host)."""

from __future__ import annotations

import base64
import json

import pytest

from dockyard.commands.hoststate.paths import HostState
from dockyard.diff.read import PROJECT_DIR, live_snapshot
from dockyard.diff.remote import live_state
from dockyard.host.facts import FactsError, parse

APP_ID = "sha256:" + "0a" * 32
DIGEST = "reg/app@sha256:" + "1b" * 32
FILES = "/srv/shop/.dockyard/releases/r-1/files"


def facts(config_hash: str = "c" * 64, state: str = "running") -> object:
    container = {"name": "/shop-app-1", "image": APP_ID, "state": state, "exit_code": 0,
                 "labels": {"com.docker.compose.service": "app",
                            "com.docker.compose.config-hash": config_hash}}  # fmt: skip
    head = {"id": "r-1", "time": "t", "actor": "a", "run_id": "x", "result": "succeeded",
            "config_hash": "h",
            "services": {"app": {"id": APP_ID, "config_hash": "c" * 64}}}  # fmt: skip
    doc = {"facts": 1, "images": [{"id": APP_ID, "tags": [], "digests": [DIGEST]}],
           "containers": [container],
           "release_head": base64.b64encode(json.dumps(head).encode()).decode()}  # fmt: skip
    return parse(json.dumps(doc), "vm1")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


BIND = {"type": "bind", "source": f"{FILES}/conf"}
CONFIG = {"services": {"app": {"image": "reg/app:v1", "volumes": [BIND]}}}
ENV = "LEVEL=info\nDB_PASSWORD=pw\n"
OUTPUT = (
    "current r-1\n"
    f"env {b64(ENV)}\n"
    f"config {b64(json.dumps(CONFIG))}\n"
    f"file {'e' * 64}  conf/nginx.conf\n"
    f"file {'f' * 64}  .env\n"
)


def test_live_snapshot_reads_every_part() -> None:
    live = live_snapshot(facts(), OUTPUT, "/srv/shop", "vm1")  # type: ignore[arg-type]
    assert live.release == "r-1"
    assert live.env == {"LEVEL": "info", "DB_PASSWORD": "pw"}
    assert live.files == {"conf/nginx.conf": "e" * 64}  # the .env is diffed by key
    assert live.services["app"]["volumes"][0]["source"] == f"{PROJECT_DIR}/conf"
    assert live.images == {"app": DIGEST}
    assert not live.running["app"].drifted and live.running["app"].running


def test_drift_and_nothing_deployed() -> None:
    empty = "current \nenv \nconfig \n"
    live = live_snapshot(facts("d" * 64), empty, "/srv/shop", "vm1")  # type: ignore[arg-type]
    assert live.release is None and live.services == {} and live.env == {}
    assert live.running["app"].drifted


def test_bad_base64_is_a_facts_error() -> None:
    with pytest.raises(FactsError, match=r"the live \.env"):
        live_snapshot(facts(), "env !!!\n", "/srv/shop", "vm1")  # type: ignore[arg-type]


def test_live_state_checks_the_release_id_and_skips_links() -> None:
    script = live_state(HostState("/srv/shop"))
    assert "*[!A-Za-z0-9._-]*) cur= ;;" in script
    assert '[ ! -L "$p" ]' in script and "/*|..|../*|*/..|*/../*" in script
