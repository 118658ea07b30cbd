"""The CLI's Prefect-free read of a Secret block, against a local HTTP server playing the API:
what it settles itself and what it leaves to Prefect's client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.secret_blocks import AskPrefect, read_secret_block

REPO = Path(__file__).resolve().parents[2]
Answer = Callable[[BaseHTTPRequestHandler], None]


def _json(status: int, body: object) -> Answer:
    def answer(handler: BaseHTTPRequestHandler) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return answer


class Api:
    """A loopback HTTP server answering every GET with `answer`; it keeps what it was asked."""

    def __init__(self) -> None:
        self.answer: Answer = _json(404, {"detail": "not found"})
        self.asked: list[tuple[str, str | None]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.asked.append((self.path, self.headers.get("Authorization")))
                api.answer(self)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def api() -> Iterator[Api]:
    served = Api()
    yield served
    served.server.shutdown()


def test_a_string_block_is_read_with_its_secret_and_a_missing_one_is_none(api: Api) -> None:
    api.answer = _json(200, {"name": "db-password", "data": {"value": "s3cret-value"}})
    assert read_secret_block("db-password", {"PREFECT_API_URL": api.url}) == "s3cret-value"
    path, auth = api.asked[0]
    assert (
        path == "/api/block_types/slug/secret/block_documents/name/db-password?include_secrets=true"
    )
    assert auth is None
    api.answer = _json(404, {"detail": "Block document not found"})
    assert read_secret_block("db-password", {"PREFECT_API_URL": api.url + "/"}) is None


def test_auth_is_prefects_choice_the_auth_string_first(api: Api) -> None:
    api.answer = _json(200, {"data": {"value": "v"}})
    read_secret_block("k", {"PREFECT_API_URL": api.url, "PREFECT_API_KEY": "pnu_1"})
    both = {
        "PREFECT_API_URL": api.url,
        "PREFECT_API_KEY": "pnu_1",
        "PREFECT_API_AUTH_STRING": "a:b",
    }
    read_secret_block("k", both)
    assert [auth for _, auth in api.asked] == ["Bearer pnu_1", "Basic YTpi"]


@pytest.mark.parametrize(
    "answer",
    [
        _json(401, {"detail": "unauthorized"}),  # auth from a Prefect profile: Prefect knows it
        _json(500, {"detail": "boom"}),
        _json(200, {"data": {"value": {"user": "x"}}}),  # a dict secret: Prefect's message
        _json(200, {"data": {}}),
        _json(200, ["not", "a", "block"]),
        _json(200, {"data": {"value": "x" * (1 << 20)}}),  # over the size bound
    ],
)
def test_what_it_cannot_settle_goes_to_prefect(api: Api, answer: Answer) -> None:
    api.answer = answer
    with pytest.raises(AskPrefect):
        read_secret_block("k", {"PREFECT_API_URL": api.url})


def test_a_slow_drip_answer_ends_at_the_bound(api: Api) -> None:
    def drip(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(1000):
            handler.wfile.write(b" ")
            handler.wfile.flush()
            time.sleep(0.05)

    api.answer = drip
    started = time.monotonic()
    with pytest.raises(AskPrefect):
        read_secret_block("k", {"PREFECT_API_URL": api.url}, timeout=1.0)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    "environ",
    [
        {},
        {"PREFECT_API_URL": "ephemeral"},
        {"PREFECT_API_URL": "http://127.0.0.1:9/api", "PREFECT_API_TLS_INSECURE_SKIP_VERIFY": "1"},
        {"PREFECT_API_URL": "http://127.0.0.1:9/api"},  # nothing listens: Prefect says why
    ],
)
def test_no_usable_url_or_settings_of_its_own_go_to_prefect(environ: dict[str, str]) -> None:
    with pytest.raises(AskPrefect):
        read_secret_block("k", environ, timeout=2.0)


def test_the_cli_lookup_reads_a_block_without_importing_prefect(api: Api) -> None:
    api.answer = _json(200, {"data": {"value": "k" * 40}})
    code = (
        "import sys; from deployments.cli.options import secret_lookup; "
        "value = secret_lookup()('DOCKYARD_RELEASE_KEY'); "
        "print(value, 'prefect' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**os.environ, "PREFECT_API_URL": api.url})  # fmt: skip
    assert done.stdout.split() == ["k" * 40, "False"], done.stderr[-2000:]
    assert api.asked[0][0].startswith("/api/block_types/slug/secret/block_documents/name/"
                                      "dockyard-release-key?")  # fmt: skip
