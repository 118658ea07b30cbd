"""`${secret:NAME}` from a Prefect Secret block saved on the test Prefect server; what masking
keeps out of output (every form of a secret) and what it leaves alone (values between steps)."""

from __future__ import annotations

import base64
import json
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest
from prefect.blocks.system import Secret
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings

from dockyard.config import ConfigError, load_config
from dockyard.secret_blocks import read_secret_block
from tasks.secrets import PrefectSecrets
from tests.integration.deploykit import Deploy, PrefectServer, app, release_vars
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
    api = {"PREFECT_API_URL": prefect_server.url}  # the CLI's read, without Prefect's client
    assert read_secret_block("db-password", api) == BLOCK_VALUE
    assert read_secret_block("dockyard-no-such-secret", api) is None


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


# --- Masking at the boundary (issue 19 item 6, issue 20 item 3) ---------------------------

LEAKY = "Zx81 pw#ne/v@r!"  # a space, #, / and @: its URL-encoded forms differ from it
LEAK_JOB = (
    'echo "leak-bare=$DB_PASSWORD"; '
    'echo "leak-b64=$(printf %s "$DB_PASSWORD" | base64)"; '
    'echo "leak-url=$(printf %s "$DB_PASSWORD" | sed -e "s/%/%25/g; s/ /%20/g; s/!/%21/g; '
    's/#/%23/g; s|/|%2F|g; s/@/%40/g")"; '
    'echo "leak-dsn=$DATABASE_URL"; echo leak-job-done; exit 3'
)


def _leaky_job(doc: dict[str, Any]) -> None:
    """A job that prints the password bare, base64- and URL-encoded and inside a URL, then
    fails (so its output reaches the error, the report and the diagnostics artifact too)."""
    stack = doc["stacks"][0]
    stack["env"]["DATABASE_URL"] = "postgres://shop:${secret:DB_PASSWORD}@postgres/shop"
    stack["jobs"] = [{"name": "leak", "service": "migrator", "command": ["sh", "-c", LEAK_JOB]}]
    compose = Path(stack["bundle"]) / "docker-compose.yml"
    text = compose.read_text()
    old = '    profiles: [jobs]\n    volumes: ["migrations:/data", "./gate:/gate"]\n'
    assert old in text
    environment = "    environment:\n      DB_PASSWORD: ${DB_PASSWORD}\n"
    compose.write_text(
        text.replace(old, old + environment + "      DATABASE_URL: ${DATABASE_URL}\n")
    )


def _api_all(url: str, what: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object of `POST {url}/{what}/filter`, page by page."""
    found: list[dict[str, Any]] = []
    while True:
        page = httpx.post(f"{url}/{what}/filter", json={**body, "offset": len(found),
                                                          "limit": 200}, timeout=30)  # fmt: skip
        page.raise_for_status()
        found += page.json()
        if len(page.json()) < 200:
            return found


@pytest.mark.deploy_config.with_args(_leaky_job)
def test_a_secret_printed_bare_encoded_or_in_a_url_reaches_no_output(
    deploy: Deploy, prefect_server: PrefectServer
) -> None:
    forms = {"bare": LEAKY, "base64": base64.b64encode(LEAKY.encode()).decode(),
             "quote": quote(LEAKY, safe=""), "quote-slash": quote(LEAKY),
             "quote_plus": quote_plus(LEAKY)}  # fmt: skip
    started = datetime.now(UTC).isoformat()
    result = deploy.deploy("v1", extra_env={"DB_PASSWORD": LEAKY, "PREFECT_LOGGING_LEVEL": "INFO"})
    assert result.code == 1 and result.host()["result"] == "failed", result.stderr[-3000:]
    url = prefect_server.url
    logs = [entry["message"] for entry in _api_all(url, "logs", {"logs": {"timestamp":
            {"after_": started}}})]  # fmt: skip
    shown = "\n".join(logs)
    for line in ("leak-bare=***", "leak-b64=***", "leak-url=***", "leak-dsn=***"):
        assert line in shown, f"{line!r} is not in the Prefect log: {result.host()['error']}"
    artifacts = json.dumps(_api_all(url, "artifacts", {}))
    assert "leak-job-done" in artifacts  # the job's tail is in the diagnostics artifact
    runs = json.dumps(_api_all(url, "task_runs", {})) + json.dumps(_api_all(url, "flow_runs", {}))
    stored = b"".join(p.read_bytes() for p in prefect_server.home.rglob("*") if p.is_file())
    for name, form in forms.items():
        for where, text in (("stdout", result.stdout), ("stderr", result.stderr),
                            ("Prefect logs", shown), ("artifacts", artifacts),
                            ("flow/task runs", runs)):  # fmt: skip
            assert form not in text, f"the {name} form of the secret reached {where}"
        assert form.encode() not in stored, f"the {name} form is stored under PREFECT_HOME"
    assert "leak-job-done" in result.report["hosts"]["vm1"]["error"]


IMAGE_PART = "dockyard"  # every lab image is 127.0.0.1:5000/dockyard/...


def test_a_secret_inside_the_image_refs_is_warned_about_and_deploys(deploy: Deploy) -> None:
    """The plan's image refs reach verify and pull as they are (a masked
    `127.0.0.1:5000/***/app:v1` was handed on before); the report shows them whole."""
    env = {"DB_PASSWORD": IMAGE_PART}
    checked = deploy.run("validate", variables=release_vars("v1"), extra_env=env)
    assert checked.code == 0, checked.stderr
    assert "warning: the value of secret DB_PASSWORD also occurs in" in checked.stderr
    assert "stacks[0].env.APP_IMAGE" in checked.stderr
    result = deploy.deploy("v1", extra_env=env)
    assert result.code == 0, result.stderr[-3000:]
    host = result.host()
    assert host["result"] == "succeeded"
    images = {i["image"] for i in host["images"]}
    assert {app("v1"), "127.0.0.1:5000/dockyard/postgres:15"} <= images
    assert any(s["name"] == "health" and s["state"] == "Completed" for s in host["steps"])
