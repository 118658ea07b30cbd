"""`dockyard server` listens beyond loopback only with Prefect's basic auth configured."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from deployments.cli import main


@pytest.fixture()
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The command lines `server` would exec (nothing is started); env changes undone."""
    monkeypatch.setenv("PREFECT_UI_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    monkeypatch.delenv("PREFECT_SERVER_API_AUTH_STRING", raising=False)
    argvs: list[list[str]] = []
    monkeypatch.setattr("os.execv", lambda path, argv: argvs.append(argv))
    return argvs


def test_a_non_loopback_bind_without_an_auth_string_exits_2_naming_the_fix(
    started: list[list[str]],
) -> None:
    for host in ("0.0.0.0", "10.0.0.5", "::", "deployer.internal"):
        refused = CliRunner().invoke(main, ["server", "--host", host])
        assert refused.exit_code == 2, (host, refused.output)
        assert "PREFECT_SERVER_API_AUTH_STRING" in refused.output
        assert "PREFECT_API_AUTH_STRING" in refused.output
    assert started == []


def test_loopback_or_an_auth_string_starts_the_server(
    started: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    for host in ("127.0.0.1", "::1", "localhost"):
        assert CliRunner().invoke(main, ["server", "--host", host]).exit_code == 0, host
    monkeypatch.setenv("PREFECT_SERVER_API_AUTH_STRING", "admin:pw-9f2")
    assert CliRunner().invoke(main, ["server", "--host", "0.0.0.0"]).exit_code == 0
    hosts = [argv[argv.index("--host") + 1] for argv in started]
    assert hosts == ["127.0.0.1", "::1", "localhost", "0.0.0.0"]
    assert all("admin:pw-9f2" not in " ".join(argv) for argv in started)
