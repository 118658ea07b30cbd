"""Pure tests of health parsing: `compose ps` JSON forms, unhealthy() messages, and the HTTP
request a check URL becomes (host, port, TLS, path with query, Host header)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from dockyard.errors import HealthCheckFailed
from dockyard.health import ContainerState, HttpTarget, check_http, http_get, parse_ps, unhealthy

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

    def test_a_one_shot_is_done_when_it_exited_0_or_has_no_container(self) -> None:
        states = [state("init", "exited"), state("seed", "exited", exit_code=3),
                  state("sync", "running"), state("api")]  # fmt: skip
        services = ["init", "seed", "sync", "migrate", "api"]
        assert unhealthy(states, services, {"init", "seed", "sync", "migrate"}) == [
            "seed: one-shot exited 3, not exited 0",
            "sync: one-shot running, not exited 0",
        ]

    def test_only_the_given_services_are_checked(self) -> None:
        assert unhealthy([state("batch", "exited", exit_code=1)], ["api"]) == ["api: no container"]
        assert unhealthy([state("batch", "exited", exit_code=1)], []) == []


class TestHttpTarget:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("http://127.0.0.1:8080/health", ("127.0.0.1", 8080, False, "/health",
             "127.0.0.1:8080")),
            ("http://app.internal", ("app.internal", 80, False, "/", "app.internal")),
            ("https://app.internal/ready?deep=1&x=%2F", ("app.internal", 443, True,
             "/ready?deep=1&x=%2F", "app.internal")),
            ("https://127.0.0.1:8443/?q", ("127.0.0.1", 8443, True, "/?q", "127.0.0.1:8443")),
            ("https://u:pw@[::1]:9443/h", ("::1", 9443, True, "/h", "[::1]:9443")),
        ],
    )  # fmt: skip
    def test_parse(self, url: str, expected: tuple[object, ...]) -> None:
        where = HttpTarget.parse(url)
        assert (where.host, where.port, where.tls, where.target, where.host_header) == expected


class _Channel:
    """A direct-tcpip channel that records what is sent and answers one canned response."""

    def __init__(self, reply: bytes) -> None:
        self.sent = b""
        self.reply = reply
        self.closed = False

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.reply))

    def close(self) -> None:
        self.closed = True


class _Link:
    def __init__(self, reply: bytes) -> None:
        self.channel = _Channel(reply)
        self.opened: list[tuple[str, int, float]] = []

    def open_direct_tcpip(self, host: str, port: int, timeout: float) -> _Channel:
        self.opened.append((host, port, timeout))
        return self.channel


def test_http_get_sends_path_query_and_host_through_the_channel() -> None:
    link = _Link(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
    status = http_get(link, "http://127.0.0.1:18080/health?verbose=1", 3.0)  # type: ignore[arg-type]
    assert status == 204
    assert link.opened == [("127.0.0.1", 18080, 3.0)]
    request = link.channel.sent.decode().split("\r\n")
    assert request[0] == "GET /health?verbose=1 HTTP/1.1"
    assert "Host: 127.0.0.1:18080" in request and "Connection: close" in request
    assert link.channel.closed


def test_check_http_retries_until_the_status() -> None:
    link = _Link(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
    slept: list[float] = []
    with pytest.raises(
        HealthCheckFailed, match=r"did not answer 200 after 3 attempts \(status 503\)"
    ):
        check_http(link, "http://h/x", status=200, attempts=3, interval=0.5, timeout=1,  # type: ignore[arg-type]
                   sleep=slept.append)  # fmt: skip
    assert slept == [0.5, 0.5]


def test_ca_file_is_relative_to_the_config_file(tmp_path: Path) -> None:
    from dockyard.config import ConfigError, load_config
    from tests.unit.configkit import ENVIRON, VARIABLES, full_config, make_project, new_keypair
    from tests.unit.configkit import write as write_config

    root = make_project(tmp_path, new_keypair())
    (root / "certs").mkdir()
    (root / "certs" / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    data = full_config()
    data["stacks"][0]["health"] = {
        "http": [{"url": "https://app.internal/health", "ca_file": "certs/ca.pem"},
                 {"url": "https://a/"}],
    }  # fmt: skip
    config = load_config(write_config(root, data), VARIABLES, environ=ENVIRON)
    checks = config.stacks[0].health.http
    assert checks[0].ca_file == root / "certs" / "ca.pem"
    assert checks[1].ca_file is None
    data["stacks"][0]["health"]["http"][0]["ca_file"] = "gone.pem"
    with pytest.raises(ConfigError, match="cannot read ca_file"):
        load_config(write_config(root, data), VARIABLES, environ=ENVIRON)
