"""Registry client against a fake registry (httpx.MockTransport): auth flows, schemes, errors."""

from __future__ import annotations

import base64
import hashlib
import pickle
import re
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from dockyard.images.ref import ImageRef
from dockyard.images.registry import (
    MANIFEST_TYPES,
    ManifestUnknown,
    RegistryAuthError,
    RegistryClient,
    RegistryError,
    RegistryUnavailable,
    with_retries,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4
PASSWORD = "pw-Secret-7f3a"
BASIC = "Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()).decode()
Handler = Callable[[httpx.Request], httpx.Response]


class Fake:
    """Records requests and answers with `handler`."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def client(self, credentials: dict[str, tuple[str, str]] | None = None) -> RegistryClient:
        return RegistryClient(credentials, transport=httpx.MockTransport(self))

    @property
    def urls(self) -> list[str]:
        return [f"{r.method} {r.url}" for r in self.requests]


def found(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, headers={"docker-content-digest": DIGEST})


def test_head_with_every_manifest_type_over_http_for_loopback() -> None:
    fake = Fake(found)
    assert fake.client().manifest_digest(ImageRef.parse("127.0.0.1:5000/a/b:1")) == DIGEST
    (request,) = fake.requests
    assert str(request.url) == "http://127.0.0.1:5000/v2/a/b/manifests/1"
    assert request.method == "HEAD"
    assert all(t in request.headers["accept"] for t in MANIFEST_TYPES)


@pytest.mark.parametrize(
    ("image", "url"),
    [
        ("localhost:5000/app", "http://localhost:5000/v2/app/manifests/latest"),
        ("[::1]:5000/app:1", "http://[::1]:5000/v2/app/manifests/1"),
        ("127.1.2.3/app:1", "http://127.1.2.3/v2/app/manifests/1"),
        ("ghcr.io/org/app:1", "https://ghcr.io/v2/org/app/manifests/1"),
        ("10.0.0.5:5000/app:1", "https://10.0.0.5:5000/v2/app/manifests/1"),
        ("busybox", "https://registry-1.docker.io/v2/library/busybox/manifests/latest"),
        (f"r.io/app:1@{DIGEST}", f"https://r.io/v2/app/manifests/{DIGEST}"),
    ],
)
def test_scheme_host_and_reference(image: str, url: str) -> None:
    fake = Fake(found)
    fake.client().manifest_digest(ImageRef.parse(image))
    assert str(fake.requests[0].url) == url


def test_digest_from_the_body_when_head_has_no_digest_header() -> None:
    body = b'{"schemaVersion": 2}'
    fake = Fake(lambda r: httpx.Response(200, content=body if r.method == "GET" else b""))
    digest = fake.client().manifest_digest(ImageRef.parse("r.io/app:1"))
    assert digest == "sha256:" + hashlib.sha256(body).hexdigest()
    assert [r.method for r in fake.requests] == ["HEAD", "GET"]


def basic_registry(request: httpx.Request) -> httpx.Response:
    if request.headers.get("authorization") == BASIC:
        return found(request)
    return httpx.Response(401, headers={"www-authenticate": 'Basic realm="lab"'})


def test_basic_challenge_is_answered_once_then_sent_up_front() -> None:
    fake = Fake(basic_registry)
    client = fake.client({"reg.example:5002": ("alice", PASSWORD)})
    ref = ImageRef.parse("reg.example:5002/app:1")
    assert client.manifest_digest(ref) == DIGEST
    assert client.manifest_digest(ref) == DIGEST
    assert [r.headers.get("authorization") for r in fake.requests] == [None, BASIC, BASIC]


def test_basic_without_credentials_names_the_registry_and_the_config_to_set() -> None:
    fake = Fake(basic_registry)
    with pytest.raises(RegistryAuthError) as caught:
        fake.client().manifest_digest(ImageRef.parse("reg.example:5002/app:1"))
    message = str(caught.value)
    assert "reg.example:5002" in message and "images.registries" in message
    assert caught.value.transient is False and caught.value.status == 401


def test_rejected_password_never_appears_in_messages_or_reprs() -> None:
    fake = Fake(basic_registry)
    client = fake.client({"reg.example:5002": ("alice", "wrong-" + PASSWORD)})
    with pytest.raises(RegistryAuthError) as caught:
        client.manifest_digest(ImageRef.parse("reg.example:5002/app:1"))
    assert "alice" in str(caught.value) and "rejected" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), repr(client), repr(client.__dict__)):
        assert PASSWORD not in text
    assert len(fake.requests) == 2
    with pytest.raises(RegistryAuthError):
        client.manifest_digest(ImageRef.parse("reg.example:5002/app:1"))
    assert len(fake.requests) == 3  # the known-Basic host gets the credentials at once, once


def bearer_registry(tokens: list[str]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example":
            if request.headers.get("authorization") not in (None, BASIC):
                return httpx.Response(401)
            tokens.append(str(request.url))
            token = "tok-alice" if request.headers.get("authorization") else "tok-anon"
            return httpx.Response(200, json={"token": token, "expires_in": 300})
        if request.headers.get("authorization") == "Bearer tok-alice":
            return found(request)
        challenge = (
            'Bearer realm="https://auth.example/token",service="reg.example",'
            'scope="repository:team/app:pull"'
        )
        if request.headers.get("authorization") == "Bearer tok-anon":
            challenge += ',error="insufficient_scope"'
        return httpx.Response(401, headers={"www-authenticate": challenge})

    return handle


def test_bearer_token_flow_with_credentials_and_token_reuse() -> None:
    tokens: list[str] = []
    fake = Fake(bearer_registry(tokens))
    client = fake.client({"reg.example": ("alice", PASSWORD)})
    ref = ImageRef.parse("reg.example/team/app:1")
    assert client.manifest_digest(ref) == DIGEST
    assert client.manifest_digest(ref) == DIGEST
    assert tokens == [
        "https://auth.example/token?scope=repository%3Ateam%2Fapp%3Apull&service=reg.example"
    ]
    assert [r.headers.get("authorization") for r in fake.requests] == [
        None,
        BASIC,
        "Bearer tok-alice",
        "Bearer tok-alice",
    ]


def test_bearer_anonymous_token_that_is_not_enough_is_an_auth_error() -> None:
    fake = Fake(bearer_registry([]))
    with pytest.raises(
        RegistryAuthError, match=re.escape("no credentials are set for reg.example")
    ):
        fake.client().manifest_digest(ImageRef.parse("reg.example/team/app:1"))


def test_token_service_refusing_credentials_is_an_auth_error() -> None:
    fake = Fake(bearer_registry([]))
    client = fake.client({"reg.example": ("alice", "bad")})
    with pytest.raises(
        RegistryAuthError, match=re.escape("token service https://auth.example/token")
    ):
        client.manifest_digest(ImageRef.parse("reg.example/team/app:1"))


def test_docker_hub_credentials_match_any_hub_alias() -> None:
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return basic_registry(request)

    client = Fake(handle).client({"index.docker.io": ("alice", PASSWORD)})
    assert client.manifest_digest(ImageRef.parse("busybox:1.36")) == DIGEST
    assert seen == [None, BASIC]


def test_404_is_manifest_unknown_naming_the_image_and_tag() -> None:
    fake = Fake(lambda r: httpx.Response(404))
    client = fake.client()
    with pytest.raises(ManifestUnknown) as caught:
        client.manifest_digest(ImageRef.parse("127.0.0.1:5000/app:v9"))
    message = str(caught.value)
    assert "127.0.0.1:5000/app:v9" in message and "tag 'v9' does not exist" in message
    assert caught.value.transient is False
    assert client.exists(ImageRef.parse("127.0.0.1:5000/app:v9")) is False


def test_403_says_the_user_may_not_pull() -> None:
    fake = Fake(lambda r: httpx.Response(403))
    with pytest.raises(RegistryAuthError, match="user 'alice' may not pull app"):
        fake.client({"r.io": ("alice", PASSWORD)}).manifest_digest(ImageRef.parse("r.io/app:1"))


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_rate_limits_are_transient(status: int) -> None:
    with pytest.raises(RegistryUnavailable) as caught:
        Fake(lambda r: httpx.Response(status)).client().manifest_digest(ImageRef.parse("r.io/a:1"))
    assert caught.value.transient is True and caught.value.status == status


@pytest.mark.parametrize(
    "exc",
    [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("x")],
)
def test_transport_failures_are_transient(exc: Exception) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise exc

    with pytest.raises(RegistryUnavailable) as caught:
        Fake(handle).client().manifest_digest(ImageRef.parse("r.io/a:1"))
    assert caught.value.transient and caught.value.registry == "r.io"


def test_errors_survive_pickling_with_their_attributes() -> None:
    with pytest.raises(ManifestUnknown) as caught:
        Fake(lambda r: httpx.Response(404)).client().manifest_digest(ImageRef.parse("r.io/a:1"))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is ManifestUnknown and str(copy) == str(caught.value)
    assert (copy.registry, copy.image, copy.status, copy.transient) == (
        "r.io",
        "r.io/a:1",
        404,
        False,
    )
    assert pickle.loads(pickle.dumps(unavailable())).transient is True


def test_other_statuses_are_permanent_registry_errors() -> None:
    with pytest.raises(RegistryError) as caught:
        Fake(lambda r: httpx.Response(400)).client().manifest_digest(ImageRef.parse("r.io/a:1"))
    assert type(caught.value) is RegistryError and not caught.value.transient


def test_exists_is_true_for_a_served_manifest_and_still_raises_auth_errors() -> None:
    assert Fake(found).client().exists(ImageRef.parse("r.io/a:1")) is True
    with pytest.raises(RegistryAuthError):
        Fake(lambda r: httpx.Response(401)).client().exists(ImageRef.parse("r.io/a:1"))


def test_secret_str_passwords_are_accepted() -> None:
    fake = Fake(basic_registry)
    client = RegistryClient(
        {"reg.example:5002": ("alice", SecretStr(PASSWORD))}, transport=httpx.MockTransport(fake)
    )
    assert client.manifest_digest(ImageRef.parse("reg.example:5002/app:1")) == DIGEST


# --- with_retries -------------------------------------------------------------------------


def flaky(errors: list[Exception]) -> tuple[Callable[[], str], list[int]]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if errors:
            raise errors.pop(0)
        return "ok"

    return fn, calls


def unavailable() -> RegistryUnavailable:
    return RegistryUnavailable("503", registry="r.io", status=503)


def test_with_retries_retries_transient_errors_with_growing_backoff_and_jitter() -> None:
    fn, calls = flaky([unavailable(), unavailable()])
    sleeps: list[float] = []
    assert with_retries(fn, attempts=3, backoff=1.0, jitter=0.5, sleep=sleeps.append) == "ok"
    assert len(calls) == 3
    assert 1.0 <= sleeps[0] <= 1.5 and 2.0 <= sleeps[1] <= 2.5


def test_with_retries_gives_up_after_the_attempts() -> None:
    fn, calls = flaky([unavailable() for _ in range(5)])
    with pytest.raises(RegistryUnavailable):
        with_retries(fn, attempts=2, backoff=0, jitter=0, sleep=lambda s: None)
    assert len(calls) == 2


def test_with_retries_does_not_retry_permanent_errors() -> None:
    fn, calls = flaky([ManifestUnknown("gone", registry="r.io"), unavailable()])
    with pytest.raises(ManifestUnknown):
        with_retries(fn, attempts=5, backoff=0, jitter=0, sleep=lambda s: None)
    assert len(calls) == 1


def test_with_retries_needs_an_attempt() -> None:
    with pytest.raises(ValueError, match="attempts"):
        with_retries(lambda: "x", attempts=0)
