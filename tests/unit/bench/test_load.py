"""The load generator's tally: failures by kind, the longest gap between successes, and the
loopback-only target; one short run against a local HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.load import LoadGenerator, Sample, check_loopback, outcome, tally


def ok(sent: float, done: float, body: str = "v1") -> Sample:
    return Sample(sent, done, 200, body=body)


def test_outcome_counts_connection_errors_timeouts_and_5xx_but_not_4xx() -> None:
    assert outcome(ok(0, 1)) == "ok"
    assert outcome(Sample(0, 1, 404)) == "ok"
    assert outcome(Sample(0, 1, 502)) == "5xx"
    assert outcome(Sample(0, 1, error="connection")) == "connection"
    assert outcome(Sample(0, 5, error="timeout")) == "timeout"


def test_tally_counts_failures_and_versions() -> None:
    samples = [
        ok(0.0, 0.1),
        Sample(0.2, 0.3, 503),
        Sample(0.4, 0.5, error="connection"),
        Sample(0.6, 5.6, error="timeout"),
        ok(0.8, 0.9, "v2"),
        ok(1.0, 1.1, "v2"),
    ]
    result = tally(samples, started=0.0, stopped=1.2)
    assert result.requests == 6
    assert result.failed == 3
    assert result.by_outcome == {"5xx": 1, "connection": 1, "ok": 3, "timeout": 1}
    assert result.versions == {"v1": 1, "v2": 2}
    assert result.longest_gap_s == pytest.approx(0.8)  # 0.1 -> 0.9


def test_an_outage_at_either_end_of_the_load_is_a_gap() -> None:
    assert tally([ok(0, 3.0)], started=0.0, stopped=3.5).longest_gap_s == pytest.approx(3.0)
    assert tally([ok(0, 0.5)], started=0.0, stopped=4.0).longest_gap_s == pytest.approx(3.5)
    nothing = tally([Sample(0, 1, error="connection")], started=0.0, stopped=2.0)
    assert nothing.longest_gap_s == pytest.approx(2.0) and nothing.failed == 1


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080/", "http://example.com/version"])
def test_the_generator_refuses_a_target_off_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="not on loopback"):
        check_loopback(url)
    with pytest.raises(ValueError, match="not on loopback"):
        LoadGenerator(url)


class _Flaky(BaseHTTPRequestHandler):
    """Answers 200 "v1", every third request 503."""

    count = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            type(self).count += 1
            status = 503 if type(self).count % 3 == 0 else 200
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"v1")

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/version"
    httpd.shutdown()
    httpd.server_close()


def test_a_short_run_sends_at_its_rate_and_counts_what_the_server_answered(server: str) -> None:
    with LoadGenerator(server, rate=40, timeout=2) as load:
        time.sleep(0.5)
        result = load.stop()
    assert 15 <= result.requests <= 25, result
    assert result.requests == _Flaky.count
    assert result.by_outcome.get("5xx", 0) == _Flaky.count // 3
    assert result.versions == {"v1": result.requests - result.failed}
