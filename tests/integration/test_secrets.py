"""`${secret:NAME}` from a Prefect Secret block saved on the test Prefect server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from dockyard.config import ConfigError, load_config
from tasks.secrets import PrefectSecrets
from tests.integration.deploykit import PrefectServer
from tests.unit.configkit import ENVIRON, VARIABLES, full_config, make_project, new_keypair, write

BLOCK_VALUE = "from-a-block-Jx81"
ENV_WITHOUT = {k: v for k, v in ENVIRON.items() if k != "DB_PASSWORD"}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0]["env"]["API_KEY"] = "${secret:DOCKYARD_TEST_API_KEY}"
    return write(tmp_path, data)


def test_a_secret_block_fills_what_the_environment_lacks(
    prefect_server: PrefectServer, config_path: Path
) -> None:
    with temporary_settings({PREFECT_API_URL: prefect_server.url}):
        Secret(value=BLOCK_VALUE).save("db-password", overwrite=True)
        Secret(value="api-" + BLOCK_VALUE).save("dockyard-test-api-key", overwrite=True)
        config = load_config(config_path, VARIABLES, ENV_WITHOUT, PrefectSecrets())
        from_env = load_config(config_path, VARIABLES, ENVIRON, PrefectSecrets())
    env = config.stacks[0].revealed_env()
    assert (env["DB_PASSWORD"], env["API_KEY"]) == (BLOCK_VALUE, "api-" + BLOCK_VALUE)
    assert BLOCK_VALUE in config.secret_values()
    assert from_env.stacks[0].revealed_env()["DB_PASSWORD"] == ENVIRON["DB_PASSWORD"]


def test_a_missing_block_names_the_block(prefect_server: PrefectServer, tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0]["env"]["NONE_SUCH"] = "${secret:DOCKYARD_NO_SUCH_SECRET}"
    with (
        temporary_settings({PREFECT_API_URL: prefect_server.url}),
        pytest.raises(ConfigError) as info,
    ):
        load_config(write(tmp_path, data), VARIABLES, ENVIRON, PrefectSecrets())
    text = str(info.value)
    assert "stacks[0].env.NONE_SUCH" in text
    assert "nor in a Prefect Secret block named 'dockyard-no-such-secret'" in text


def test_an_unreachable_api_is_one_config_problem(config_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/api"
    settings = {PREFECT_API_URL: closed, PREFECT_CLIENT_MAX_RETRIES: 0}
    with temporary_settings(settings), pytest.raises(ConfigError) as info:
        load_config(config_path, VARIABLES, ENVIRON, PrefectSecrets())
    problems = {p.field: (p.message, p.fix) for p in info.value.problems}
    message, fix = problems["stacks[0].env.API_KEY"]
    assert "cannot read a Prefect Secret block named 'dockyard-test-api-key'" in message
    assert "PREFECT_API_URL" in fix
