"""Failure notification: `dockyard notify-setup --webhook URL` makes the Prefect server POST the
failed deploy run's id and name to a webhook (a receiver on loopback in this test)."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from tests.integration.deploykit import DOCKYARD, REPO, Deploy, unreachable


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.bodies.append(json.loads(self.rfile.read(length) or b"{}"))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        """Quiet."""


@pytest.fixture()
def webhook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.bodies = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_failed_deploy_calls_the_webhook_with_the_run(
    deploy: Deploy, webhook: ThreadingHTTPServer
) -> None:
    url = f"http://127.0.0.1:{webhook.server_address[1]}/hook"
    setup = subprocess.run([DOCKYARD, "notify-setup", "--webhook", url], capture_output=True,
                           text=True, timeout=120, env=deploy.env, cwd=REPO,
                           stdin=subprocess.DEVNULL)  # fmt: skip
    assert setup.returncode == 0, setup.stderr[-2000:]
    assert url not in setup.stdout  # the URL may carry a token
    doc = yaml.safe_load(deploy.config.read_text())
    doc["targets"] = [unreachable(doc["targets"][0], deploy.lab)]
    deploy.config.write_text(yaml.safe_dump(doc))
    failed = deploy.deploy("v1")
    assert failed.code == 1, failed.stderr[-2000:]
    run_id = failed.report["flow_run_id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(
        b.get("flow_run_id") == run_id
        for b in webhook.bodies  # type: ignore[attr-defined]
    ):
        time.sleep(1)
    sent = [b for b in webhook.bodies if b.get("flow_run_id") == run_id]  # type: ignore[attr-defined]
    assert sent, f"no webhook call for run {run_id}: {webhook.bodies}"  # type: ignore[attr-defined]
    assert sent[0]["flow_run_name"] == f"deploy {deploy.config}"
    assert sent[0]["state"] == "Failed" and sent[0]["event"] == "dockyard deploy failed"
