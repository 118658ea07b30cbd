"""The lab fault proxy on real loopback sockets: counters, each fault, and the control process."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from dockyard.lab.faultproxy import (
    DuplicateRoute,
    FaultProxy,
    FaultProxyError,
    InvalidFault,
    ProxyControl,
    UnknownRoute,
)
from dockyard.lab.faultproxy_http import MalformedRequest, parse_request_head

pytestmark = pytest.mark.timeout(30)
REPO = Path(__file__).resolve().parents[3]


def _echo(sock: socket.socket) -> None:
    while data := sock.recv(65536):
        sock.sendall(data)


def _bulk(sock: socket.socket) -> None:
    """`GET n` sends n bytes back; `PUT n` reads n bytes, then answers `done`."""
    stream = sock.makefile("rb")
    verb, size = stream.readline().split()
    if verb == b"GET":
        sock.sendall(b"x" * int(size))
        return
    assert len(stream.read(int(size))) == int(size)
    sock.sendall(b"done")


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[socket.socket], None]], int]]:
    servers: list[socketserver.ThreadingTCPServer] = []

    def start(handle: Callable[[socket.socket], None]) -> int:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.settimeout(10)
                with contextlib.suppress(ConnectionError):
                    handle(self.request)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy() -> Iterator[FaultProxy]:
    with FaultProxy() as running:
        yield running


def _connect(port: int, timeout: float = 5.0, host: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection((host, port), timeout=timeout)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"EOF after {len(data)} of {size} bytes"
        data += chunk
    return data


def _exchange(sock: socket.socket, payload: bytes) -> bytes:
    """Send `payload` from a thread while reading the same number of bytes back."""
    sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
    sender.start()
    echoed = _recv_exactly(sock, len(payload))
    sender.join(5)
    return echoed


def test_byte_counts_match_the_payload_exactly(proxy: FaultProxy, serve: Any) -> None:
    port = proxy.add_route("echo", 0, serve(_echo))
    payload = os.urandom(300_000)
    with _connect(port) as sock:
        assert _exchange(sock, payload) == payload
    with _connect(port) as sock:
        assert _exchange(sock, b"abc") == b"abc"

    stats = proxy.stats("echo")
    assert (stats["up"], stats["down"], stats["connections"]) == (300_003, 300_003, 2)
    json.dumps(stats)
    proxy.reset_stats("echo")
    stats = proxy.stats("echo")
    assert (stats["up"], stats["down"], stats["connections"]) == (0, 0, 0)


def test_idle_drop_resets_an_idle_connection_and_spares_a_busy_one(
    proxy: FaultProxy, serve: Any
) -> None:
    port = proxy.add_route("nat", 0, serve(_echo))
    idle, busy = _connect(port), _connect(port)
    with idle, busy:
        for sock in (idle, busy):
            assert _exchange(sock, b"warm") == b"warm"
        proxy.set_faults("nat", idle_drop=1.0)
        started = time.monotonic()
        while time.monotonic() - started < 2.0:
            time.sleep(0.3)
            assert _exchange(busy, b"ping") == b"ping"
        idle.settimeout(0.5)
        with pytest.raises(ConnectionResetError):
            idle.recv(1)
        assert _exchange(busy, b"still here") == b"still here"
        assert proxy.stats("nat")["active"] == 1


def test_freeze_blackholes_open_connections_and_unfreeze_delivers(
    proxy: FaultProxy, serve: Any
) -> None:
    port = proxy.add_route("hole", 0, serve(_echo))
    with _connect(port) as old:
        assert _exchange(old, b"before") == b"before"
        proxy.set_faults("hole", freeze=True)
        old.sendall(b"during")
        with _connect(port) as new:
            new.sendall(b"new")
            for sock in (old, new):
                sock.settimeout(0.5)
                with pytest.raises(TimeoutError):
                    sock.recv(16)
            assert proxy.stats("hole")["up"] == len(b"before")
            assert proxy.set_faults("hole", freeze=False)["freeze"] is False
            for sock, sent in ((old, b"during"), (new, b"new")):
                sock.settimeout(3)
                assert _recv_exactly(sock, len(sent)) == sent


def test_reset_after_resets_the_connection_that_spends_the_budget_then_clears(
    proxy: FaultProxy, serve: Any
) -> None:
    budget = 200_000
    port = proxy.add_route("flaky", 0, serve(_bulk))
    proxy.set_faults("flaky", reset_after=budget)
    received = 0
    with _connect(port) as sock:
        sock.sendall(b"GET 2000000\n")
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                received += len(chunk)

    stats = proxy.stats("flaky")
    assert (stats["up"], stats["down"]) == (12, budget - 12)
    assert budget // 2 < received <= budget - 12
    assert proxy.routes()["flaky"]["faults"]["reset_after"] is None
    with _connect(port) as sock:
        sock.sendall(b"GET 300000\n")
        assert _recv_exactly(sock, 300_000) == b"x" * 300_000


def test_throttle_holds_each_direction_to_the_rate_across_connections(
    proxy: FaultProxy, serve: Any
) -> None:
    rate = 1_000_000
    port = proxy.add_route("slow", 0, serve(_bulk))
    proxy.set_faults("slow", throttle=rate)
    started = time.monotonic()

    def download(size: int) -> float:
        with _connect(port) as sock:
            sock.sendall(f"GET {size}\n".encode())
            _recv_exactly(sock, size)
        return time.monotonic() - started

    def upload(size: int) -> float:
        with _connect(port) as sock:
            sock.sendall(f"PUT {size}\n".encode() + b"x" * size)
            assert _recv_exactly(sock, 4) == b"done"
        return time.monotonic() - started

    with ThreadPoolExecutor(3) as pool:
        downs = [pool.submit(download, 1_250_000) for _ in range(2)]
        up = pool.submit(upload, 2_500_000)
        down_rate = 2_500_000 / max(f.result(10) for f in downs)
        up_rate = 2_500_000 / up.result(10)
    assert 0.8 * rate <= down_rate <= 1.2 * rate
    assert 0.8 * rate <= up_rate <= 1.2 * rate


class _HttpBackend(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: Any

    def do_GET(self) -> None:
        self._answer(b"")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            self._answer(self.rfile.read(int(self.headers["Content-Length"])))
            return
        body = b""
        while size := int(self.rfile.readline().split(b";")[0], 16):
            body += self.rfile.read(size)
            self.rfile.readline()
        self.rfile.readline()
        self._answer(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _answer(self, body: bytes) -> None:
        self.server.seen.append(self.path)
        reply = json.dumps({"body": body.decode(), "peer": self.client_address[1]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


@pytest.fixture
def http_backend() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HttpBackend)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _request(
    conn: http.client.HTTPConnection, method: str, path: str, body: Any = None
) -> tuple[int, str | None, bytes]:
    if isinstance(body, list):
        headers = {"Transfer-Encoding": "chunked"}
        conn.request(method, path, body=iter(body), headers=headers, encode_chunked=True)
    else:
        conn.request(method, path, body=body)
    response = conn.getresponse()
    return response.status, response.getheader("Connection"), response.read()


def test_http_503_answers_the_first_matching_requests_and_forwards_the_rest(
    proxy: FaultProxy, http_backend: Any
) -> None:
    port = proxy.add_route("registry", 0, http_backend.server_address[1], http=True)
    proxy.set_faults("registry", http_503={"count": 2, "path": r"^/v2/"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        forwarded = [
            _request(conn, "GET", "/health"),
            _request(conn, "POST", "/upload", b"s" * 5000),
            _request(conn, "POST", "/upload", [b"abc", b"", b"defgh"]),
        ]
        refused = [
            _request(conn, "GET", "/v2/a"),
            _request(conn, "POST", "/v2/blobs", [b"c" * 70_000, b"d"]),
        ]
        after = _request(conn, "GET", "/v2/c")
    finally:
        conn.close()

    replies = [json.loads(body) for _, _, body in [*forwarded, after]]
    assert [status for status, _, _ in [*forwarded, after]] == [200] * 4
    assert [r["body"] for r in replies] == ["", "s" * 5000, "abcdefgh", ""]
    assert len({r["peer"] for r in replies[:3]}) == 1, "first three share one keep-alive"
    assert refused == [(503, "close", b""), (503, "close", b"")]
    assert http_backend.seen == ["/health", "/upload", "/upload", "/v2/c"]
    stats = proxy.stats("registry")
    assert [(r["method"], r["path"], r["answered_503"]) for r in stats["requests"]] == [
        ("GET", "/health", False),
        ("POST", "/upload", False),
        ("POST", "/upload", False),
        ("GET", "/v2/a", True),
        ("POST", "/v2/blobs", True),
        ("GET", "/v2/c", False),
    ]
    assert stats["connections"] == 3
    assert proxy.routes()["registry"]["faults"]["http_503"] is None


def test_http_503_reads_the_refused_body_and_closes_without_a_reset(
    proxy: FaultProxy, http_backend: Any
) -> None:
    port = proxy.add_route("registry", 0, http_backend.server_address[1], http=True)
    proxy.set_faults("registry", http_503={"count": 1, "path": "blobs"})
    body = b"b" * 1_000_000
    head = f"PUT /v2/blobs/1 HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
    with _connect(port) as sock:
        sender = threading.Thread(target=sock.sendall, args=(head.encode() + body,), daemon=True)
        sender.start()
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        sender.join(5)
    assert reply.startswith(b"HTTP/1.1 503 ")
    assert http_backend.seen == []


@pytest.mark.parametrize(
    ("faults", "http"),
    [
        ({"throttle": 0}, False),
        ({"idle_drop": -1}, False),
        ({"freeze": "yes"}, False),
        ({"reset_after": 1.5}, False),
        ({"jitter": 0.1}, False),
        ({"http_503": {"count": 1, "path": "^/v2/"}}, False),
        ({"http_503": {"count": 1, "path": "("}}, True),
        ({"throttle": 5, "http_503": {"count": -1}}, True),
    ],
)
def test_invalid_faults_are_refused_and_change_nothing(
    proxy: FaultProxy, faults: dict[str, Any], http: bool
) -> None:
    proxy.add_route("r", 0, 9, http=http)
    with pytest.raises(InvalidFault):
        proxy.set_faults("r", **faults)
    assert proxy.routes()["r"]["faults"] == proxy.clear_faults("r")


def test_route_errors_name_the_problem(proxy: FaultProxy) -> None:
    proxy.add_route("r", 0, 9)
    with pytest.raises(DuplicateRoute):
        proxy.add_route("r", 0, 9)
    with pytest.raises(UnknownRoute):
        proxy.stats("nope")
    with pytest.raises(ValueError, match="not loopback"):
        proxy.add_route("out", 0, 80, target_host="10.0.0.1")
    assert list(proxy.routes()) == ["r"]


@pytest.mark.parametrize(
    "head",
    [
        b"GET /\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
    ],
)
def test_malformed_request_heads_are_refused(head: bytes) -> None:
    with pytest.raises(MalformedRequest):
        parse_request_head(head)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_standalone_process_is_driven_by_proxy_control(serve: Any) -> None:
    control_port = _free_port()
    argv = [sys.executable, "-m", "dockyard.lab.faultproxy", "--control-port", str(control_port)]
    argv += ["--route", f"echo=0:{serve(_echo)}"]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    control = ProxyControl(f"http://127.0.0.1:{control_port}", timeout=2)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                routes = control.routes()
                break
            except OSError:
                assert time.monotonic() < deadline, "control port never opened"
                time.sleep(0.05)
        port = routes["echo"]["listen_port"]
        with _connect(port) as sock:
            assert _exchange(sock, b"y" * 1000) == b"y" * 1000
            assert control.set_faults("echo", freeze=True)["freeze"] is True
            sock.sendall(b"held")
            sock.settimeout(0.3)
            with pytest.raises(TimeoutError):
                sock.recv(4)
            assert control.clear_faults("echo")["freeze"] is False
            sock.settimeout(3)
            assert _recv_exactly(sock, 4) == b"held"
        stats = control.stats("echo")
        assert (stats["up"], stats["down"], stats["connections"]) == (1004, 1004, 1)
        with pytest.raises(UnknownRoute):
            control.stats("nope")
        with pytest.raises(InvalidFault):
            control.set_faults("echo", throttle=-1)
        assert control.clear_faults("echo", "throttle")["throttle"] is None
        control.reset_stats("echo")
        assert control.stats("echo")["up"] == 0
        added = control.add_route(
            "echo2", 0, routes["echo"]["target_port"], listen_host="127.0.0.2"
        )
        with _connect(added, host="127.0.0.2") as sock:
            assert _exchange(sock, b"z" * 10) == b"z" * 10
        assert control.stats("echo2")["up"] == 10 and control.stats("echo")["up"] == 0
        with pytest.raises(DuplicateRoute):
            control.add_route("echo2", 0, 1)
        with pytest.raises(FaultProxyError, match="wrong type"):
            control.add_route("echo3", "0", 1)  # type: ignore[arg-type]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
