"""Pure tests of compose health parsing: `compose ps` JSON forms and the unhealthy() messages."""

from __future__ import annotations

import json

import pytest

from dockyard.health import ContainerState, parse_ps, unhealthy

ROWS = [
    {"Service": "api", "Name": "shop-api-1", "State": "running", "Health": "healthy",
     "ExitCode": 0, "Image": "reg/app:v1", "ID": "abc"},
    {"Service": "migrator", "Name": "shop-migrator-1", "State": "exited", "Health": "",
     "ExitCode": 3, "Image": "reg/migrator:v1", "ID": "def"},
]  # fmt: skip


def state(
    service: str, st: str = "running", health: str = "", exit_code: int = 0
) -> ContainerState:
    return ContainerState(service, f"shop-{service}-1", st, health, exit_code, "img", "id")


class TestParsePs:
    def test_json_array(self) -> None:
        states = parse_ps(json.dumps(ROWS))
        assert states == [
            ContainerState("api", "shop-api-1", "running", "healthy", 0, "reg/app:v1", "abc"),
            ContainerState(
                "migrator", "shop-migrator-1", "exited", "", 3, "reg/migrator:v1", "def"
            ),
        ]

    def test_json_lines_give_the_same(self) -> None:
        lines = "\n".join(json.dumps(r) for r in ROWS) + "\n"
        assert parse_ps(lines) == parse_ps(json.dumps(ROWS))

    @pytest.mark.parametrize("output", ["", "\n", "  \n \n"])
    def test_empty_output_is_no_containers(self, output: str) -> None:
        assert parse_ps(output) == []

    def test_empty_array(self) -> None:
        assert parse_ps("[]") == []

    def test_missing_fields_default(self) -> None:
        (only,) = parse_ps('{"Service": "api", "ExitCode": null}')
        assert only == ContainerState("api", "", "", "", 0, "", "")


class TestOk:
    @pytest.mark.parametrize(
        ("st", "health", "ok"),
        [
            ("running", "", True),
            ("running", "healthy", True),
            ("running", "starting", False),
            ("running", "unhealthy", False),
            ("exited", "", False),
            ("restarting", "", False),
            ("created", "healthy", False),
        ],
    )
    def test_running_and_healthy_or_no_healthcheck(self, st: str, health: str, ok: bool) -> None:
        assert state("api", st, health).ok is ok


class TestUnhealthy:
    def test_all_fine_is_empty(self) -> None:
        states = [state("api", health="healthy"), state("db")]
        assert unhealthy(states, ["api", "db"]) == []

    def test_messages(self) -> None:
        states = [
            state("web", "exited", exit_code=137),
            state("api", health="unhealthy"),
            state("worker", health="starting"),
        ]
        assert unhealthy(states, ["db", "web", "api", "worker"]) == [
            "db: no container",
            "web: exited (exit 137)",
            "api: running (exit 0, health unhealthy)",
            "worker: running (exit 0, health starting)",
        ]

    def test_only_the_given_services_are_checked(self) -> None:
        assert unhealthy([state("batch", "exited", exit_code=1)], ["api"]) == ["api: no container"]
        assert unhealthy([state("batch", "exited", exit_code=1)], []) == []
