"""Registry client against a fake registry (httpx.MockTransport): auth flows, schemes, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import pickle
import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from dockyard.deadline import Deadline
from dockyard.errors import DockyardError, StepTimeout
from dockyard.images.credentials import RegistryLogins
from dockyard.images.errors import (
    ManifestUnknown,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailable,
)
from dockyard.images.layers import Platform
from dockyard.images.pull import engine_pull
from dockyard.images.ref import ImageRef
from dockyard.images.registry import MANIFEST_TYPES, RegistryClient
from tests.unit.test_deadline import Clock

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


def bearer_registry(tokens: list[str], realm: str = "https://reg.example/token") -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.copy_with(query=None) == httpx.URL(realm):
            if request.headers.get("authorization") not in (None, BASIC):
                return httpx.Response(401)
            tokens.append(str(request.url))
            token = "tok-alice" if request.headers.get("authorization") else "tok-anon"
            return httpx.Response(200, json={"token": token, "expires_in": 300})
        if request.headers.get("authorization") == "Bearer tok-alice":
            return found(request)
        challenge = f'Bearer realm="{realm}",service="reg.example",scope="repository:team/app:pull"'
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
        "https://reg.example/token?scope=repository%3Ateam%2Fapp%3Apull&service=reg.example"
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
        RegistryAuthError, match=re.escape("token service https://reg.example/token")
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
    unavailable = RegistryUnavailable("503", registry="r.io", status=503)
    assert pickle.loads(pickle.dumps(unavailable)).transient is True


def test_other_statuses_are_permanent_registry_errors() -> None:
    with pytest.raises(RegistryError) as caught:
        Fake(lambda r: httpx.Response(400)).client().manifest_digest(ImageRef.parse("r.io/a:1"))
    assert type(caught.value) is RegistryError and not caught.value.transient


def test_secret_str_passwords_are_accepted() -> None:
    fake = Fake(basic_registry)
    client = RegistryClient(
        {"reg.example:5002": ("alice", SecretStr(PASSWORD))}, transport=httpx.MockTransport(fake)
    )
    assert client.manifest_digest(ImageRef.parse("reg.example:5002/app:1")) == DIGEST


# --- one credentials lookup, the step's deadline, image manifests ---------------------------


class FakeApi:
    """docker-py's APIClient.pull as a recorded stream of events."""

    def __init__(self, events: list[dict[str, object]]) -> None:
        self.events = events
        self.auth: list[dict[str, str] | None] = []

    def pull(self, name: str, **kwargs: object) -> Iterator[dict[str, object]]:
        self.auth.append(kwargs["auth_config"])  # type: ignore[arg-type]
        return iter(self.events)


class FakeDocker:
    def __init__(self, events: list[dict[str, object]] | None = None) -> None:
        self.api = FakeApi(events or [{"status": "Status: Downloaded newer image"}])


def test_a_registry_configured_as_index_docker_io_authenticates_digest_checks_and_pulls() -> None:
    logins = RegistryLogins({"index.docker.io": ("alice", PASSWORD)})
    seen: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return basic_registry(request)

    ref = ImageRef.parse("registry-1.docker.io/team/app:1")
    hub = ImageRef.parse("busybox:1.36")
    client = RegistryClient(logins, transport=httpx.MockTransport(handle))
    assert client.manifest_digest(hub) == DIGEST
    assert seen == [None, BASIC]
    engine = FakeDocker()
    engine_pull(engine, hub, deadline=Deadline("pull", 60), logins=logins)  # type: ignore[arg-type]
    assert engine.api.auth == [{"username": "alice", "password": PASSWORD}]
    assert logins.credentials_for(ref) is logins.credentials_for(hub)
    assert logins.credentials_for(ImageRef.parse("ghcr.io/team/app:1")) is None
    assert PASSWORD not in repr(logins.credentials_for(hub))


def test_registry_errors_are_dockyard_errors_whose_transient_decides_retries() -> None:
    assert issubclass(RegistryError, DockyardError)
    assert RegistryUnavailable("x").transient and not ManifestUnknown("x").transient


def test_a_spent_deadline_raises_step_timeout_before_asking() -> None:
    clock = Clock()
    deadline = Deadline("verify", 5, clock=clock)
    fake = Fake(found)
    client = RegistryClient(deadline=deadline, transport=httpx.MockTransport(fake))
    clock.now += 6
    with pytest.raises(StepTimeout, match="step verify ran past its 5 s timeout") as caught:
        client.manifest_digest(ImageRef.parse("r.io/a:1"))
    assert "r.io" in str(caught.value) and fake.requests == []


def test_each_request_waits_at_most_the_time_the_step_has_left() -> None:
    clock = Clock()
    deadline = Deadline("plan", 3, clock=clock)
    timeouts: list[object] = []

    def handle(request: httpx.Request) -> httpx.Response:
        timeouts.append(request.extensions["timeout"]["read"])
        clock.now += 3.5
        raise httpx.ReadTimeout("slow", request=request)

    client = RegistryClient(deadline=deadline, transport=httpx.MockTransport(handle))
    with pytest.raises(StepTimeout, match="step plan"):
        client.manifest_digest(ImageRef.parse("r.io/a:1"))
    assert timeouts == [3.0]


INDEX = {
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"digest": "sha256:" + "a" * 64, "platform": {"os": "linux", "architecture": "arm64"}},
        {"digest": "sha256:" + "b" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
    ],
}
MANIFEST = {
    "config": {"digest": "sha256:" + "c" * 64, "size": 500},
    "layers": [{"digest": "sha256:" + "d" * 64, "size": 1000}],
}


def test_image_manifest_resolves_an_index_to_the_platform_entry() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        body = MANIFEST if request.url.path.endswith("b" * 64) else INDEX
        return httpx.Response(200, content=json.dumps(body).encode())

    fake = Fake(handle)
    manifest = fake.client().image_manifest(ImageRef.parse("r.io/a:1"), Platform("linux", "amd64"))
    assert manifest.config.size == 500 and [b.size for b in manifest.layers] == [1000]
    assert [r.url.path for r in fake.requests] == [
        "/v2/a/manifests/1",
        f"/v2/a/manifests/sha256:{'b' * 64}",
    ]
    with pytest.raises(RegistryError, match="no manifest for linux/s390x"):
        fake.client().image_manifest(ImageRef.parse("r.io/a:1"), Platform("linux", "s390x"))


def test_image_manifest_that_is_not_an_image_manifest_is_a_registry_error() -> None:
    fake = Fake(lambda r: httpx.Response(200, content=b'{"schemaVersion": 2}'))
    with pytest.raises(RegistryError, match=r"r\.io/a:1.*no config or layers"):
        fake.client().image_manifest(ImageRef.parse("r.io/a:1"), Platform("linux", "amd64"))
