"""What leaves a step: a secret printed by a failing job never reaches output, report,
artifacts, logs or the Prefect database; a step's timeout bounds the whole step."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.deploykit import DB_PASSWORD, Deploy

LEAK = ["sh", "-c", "echo connecting to postgres://app:$DB_PASSWORD@db >&2; exit 3"]


def _leaky_migration(doc: dict[str, Any]) -> None:
    jobs = doc["stacks"][0]["jobs"]
    next(j for j in jobs if j["name"] == "migrate")["command"] = LEAK
    bundle = Path(doc["stacks"][0]["bundle"])
    compose = yaml.safe_load((bundle / "docker-compose.yml").read_text())
    compose["services"]["migrator"]["environment"] = {"DB_PASSWORD": "${DB_PASSWORD}"}
    (bundle / "docker-compose.yml").write_text(yaml.safe_dump(compose, sort_keys=False))


@pytest.mark.deploy_config.with_args(_leaky_migration)
def test_a_failing_job_that_prints_a_secret_leaves_no_trace_of_it(deploy: Deploy) -> None:
    result = deploy.deploy("v1")
    assert result.code == 1
    host = result.host()
    assert "job 'migrate'" in host["error"] and "exited 3" in host["error"]
    assert "postgres://app:***@db" in host["error"], host["error"]
    assert DB_PASSWORD not in result.stdout + result.stderr
    assert "postgres://app:***@db" in result.stderr  # Prefect's own log of the failed task
    home = Path(deploy.env["PREFECT_HOME"])
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name.startswith("prefect.db") for p in stored)
    leaked = [str(p) for p in stored if DB_PASSWORD.encode() in p.read_bytes()]
    assert leaked == []


def _slow_hooks(doc: dict[str, Any]) -> None:
    stack = doc["stacks"][0]
    stack["health"]["hooks"] = [
        {"name": f"slow-{i}", "service": "app", "command": ["sleep", "2"], "timeout": "10s"}
        for i in range(4)
    ]
    doc["steps"]["health"] = {"timeout": "6s", "retries": 0}


@pytest.mark.deploy_config.with_args(_slow_hooks)
def test_a_steps_timeout_bounds_the_sum_of_its_commands(deploy: Deploy) -> None:
    started = time.monotonic()
    result = deploy.deploy("v1")
    assert result.code == 1
    error = result.host()["error"]
    assert error.startswith("StepTimeout: step health ran past its 6 s timeout"), error
    health = result.steps()["health"]
    assert health["state"] == "Failed" and health["attempts"] == 1
    assert health["seconds"] < 6 + 3, health  # each hook alone is well inside its 10 s
    assert time.monotonic() - started < 300
