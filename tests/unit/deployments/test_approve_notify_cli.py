"""`dockyard approve` and `dockyard notify-setup` refuse bad input before reaching Prefect; the
webhook payload is a JSON template naming the run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from deployments.cli.main import main
from deployments.notify import PAYLOAD, BadWebhook, check_url


@pytest.fixture()
def no_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)


def test_approve_needs_the_server_the_deploy_runs_on(no_api: None) -> None:
    done = CliRunner().invoke(main, ["approve", "0b1c7e6e-4a59-4d5e-9a36-2f5c2c1b5a10"])
    assert done.exit_code == 2 and "PREFECT_API_URL" in done.output


def test_approve_refuses_what_is_not_a_run_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    done = CliRunner().invoke(main, ["approve", "last-run", "--reject"])
    assert done.exit_code == 2 and "'last-run' is not a flow run id" in done.output


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "https:///no-host"]
)
def test_a_webhook_must_be_an_absolute_http_url_and_is_not_echoed(url: str) -> None:
    with pytest.raises(BadWebhook) as info:
        check_url(url)
    assert url not in str(info.value)
    done = CliRunner().invoke(main, ["notify-setup", "--webhook", url])
    assert done.exit_code == 2 and "not an absolute http(s) URL" in done.output


def test_notify_setup_needs_a_server(no_api: None) -> None:
    done = CliRunner().invoke(main, ["notify-setup", "--webhook", "https://hooks.example.com/x"])
    assert done.exit_code == 2 and "PREFECT_API_URL" in done.output


def test_the_payload_names_the_run_and_its_state() -> None:
    body = json.loads(PAYLOAD)
    assert body["flow_run_id"] == "{{ flow_run.id }}"
    assert body["flow_run_name"] == "{{ flow_run.name }}"
    assert body["state"] == "{{ flow_run.state.name }}"
