"""The registry client's bounds against a real local HTTP server on 127.0.0.1: bodies cut at
the cap while streaming, a wall-clock end per request however slowly the server sends; and
where credentials may go (token realms), redirect loops as dockyard errors."""

from __future__ import annotations

import contextlib
import http.server
import resource
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from dockyard.deadline import Deadline
from dockyard.errors import StepTimeout
from dockyard.images.errors import RegistryAuthError, RegistryError
from dockyard.images.layers import Platform
from dockyard.images.ref import ImageRef
from dockyard.images.registry import MAX_BODY_BYTES, RegistryClient
from tests.unit.images.test_registry import BASIC, PASSWORD, Fake, bearer_registry

pytestmark = pytest.mark.timeout(60)

MB = 1024 * 1024
Answer = Callable[[http.server.BaseHTTPRequestHandler], None]


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], str]]:
    """Start a local HTTP server whose GET/HEAD answer is `answer(handler)`; its host:port."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(answer: Answer) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    answer(self)

            do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _huge(chunked: bool) -> Answer:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        if chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(400 * MB))
        handler.end_headers()
        block = b" " * MB
        for _ in range(400):
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(block), block) if chunked else block)

    return answer


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_400_mib_manifest_is_refused_while_streaming_without_growing_memory(
    serve: Callable[[Answer], str], chunked: bool
) -> None:
    host = serve(_huge(chunked))
    before = _peak_rss_mb()
    with pytest.raises(RegistryError, match=f"at most {MAX_BODY_BYTES} are read"):
        RegistryClient().image_manifest(ImageRef.parse(f"{host}/app:1"), Platform("linux", "amd64"))
    assert _peak_rss_mb() - before < 64, "the body was read whole"


def _trickle(headers_too: bool) -> Answer:
    def answer(handler: http.server.BaseHTTPRequestHandler) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\nDocker-Content-Digest: x\r\n\r\n"
        if not headers_too:
            handler.wfile.write(head)
            head = b""
        for byte in head + b"{" * 60:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.5)

    return answer


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_server_sending_a_byte_every_half_second_is_cut_at_the_deadline(
    serve: Callable[[Answer], str], headers_too: bool
) -> None:
    host = serve(_trickle(headers_too))
    client = RegistryClient(timeout=10, deadline=Deadline("verify", 2))
    started = time.monotonic()
    with pytest.raises(StepTimeout, match="step verify ran past its 2 s timeout"):
        client.image_manifest(ImageRef.parse(f"{host}/app:1"), Platform("linux", "amd64"))
    assert time.monotonic() - started < 3.5


def test_without_a_step_deadline_the_client_timeout_is_the_wall_clock_end(
    serve: Callable[[Answer], str],
) -> None:
    host = serve(_trickle(False))
    started = time.monotonic()
    with pytest.raises(RegistryError, match="did not answer in time"):
        RegistryClient(timeout=1.5).image_manifest(
            ImageRef.parse(f"{host}/app:1"), Platform("linux", "amd64")
        )
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("realm", "why"),
    [
        ("https://evil.example/token", "is on another host than reg.example"),
        ("http://reg.example/token", "is http://"),
        ("https://example.evil/token", "another host"),
        ("https://sub.reg.example/token", "another host"),
    ],
)
def test_credentials_never_go_to_a_realm_elsewhere_or_in_the_clear(realm: str, why: str) -> None:
    fake = Fake(bearer_registry([], realm))
    client = fake.client({"reg.example": ("alice", PASSWORD)})
    with pytest.raises(RegistryAuthError, match=why) as info:
        client.manifest_digest(ImageRef.parse("reg.example/team/app:1"))
    assert "are not sent there" in str(info.value) and PASSWORD not in str(info.value)
    assert all(r.headers.get("authorization") != BASIC for r in fake.requests)
    assert all(r.url.host == "reg.example" for r in fake.requests)


@pytest.mark.parametrize(
    ("image", "realm"),
    [
        ("reg.example/team/app:1", "https://reg.example/token"),
        ("registry.gitlab.example/team/app:1", "https://gitlab.example/jwt/auth"),
        ("127.0.0.1:5000/team/app:1", "http://127.0.0.1:5001/token"),
        ("docker.io/team/app:1", "https://auth.docker.io/token"),
    ],
)
def test_credentials_go_to_the_registrys_own_https_realm(image: str, realm: str) -> None:
    ref = ImageRef.parse(image)
    tokens: list[str] = []
    fake = Fake(bearer_registry(tokens, realm))
    client = fake.client({ref.registry: ("alice", PASSWORD)})
    assert client.manifest_digest(ref)
    assert len(tokens) == 1 and any(r.headers.get("authorization") == BASIC for r in fake.requests)


def test_an_anonymous_token_may_come_from_anywhere() -> None:
    fake = Fake(bearer_registry([], "https://auth.elsewhere/token"))
    with pytest.raises(RegistryAuthError, match=r"no credentials are set for reg\.example"):
        fake.client().manifest_digest(ImageRef.parse("reg.example/team/app:1"))
    assert any(r.url.host == "auth.elsewhere" for r in fake.requests)


def test_a_redirect_loop_is_a_registry_error_naming_the_registry() -> None:
    def loop(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": str(request.url)})

    with pytest.raises(RegistryError, match=r"reg\.example redirected over 10 times") as info:
        Fake(loop).client().manifest_digest(ImageRef.parse("reg.example/app:1"))
    assert not info.value.transient
