"""Registry HTTP client: manifest digests by HEAD, Basic/Bearer auth, errors typed by retry."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

import httpx
from pydantic import SecretStr

from dockyard.config import RegistryConfig
from dockyard.images.ref import DOCKER_HUB, DOCKER_HUB_API_HOST, ImageRef

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DEFAULT_TIMEOUT = 10.0

_HUB_ALIASES = {DOCKER_HUB, DOCKER_HUB_API_HOST, "index.docker.io"}
_CHALLENGE = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
_TOKEN_TTL = 60.0

T = TypeVar("T")


class RegistryError(Exception):
    """A registry answered badly or not at all; `transient` says whether a retry can help.

    Picklable (task results and states): the attributes travel in the instance dict.
    """

    transient: bool = False

    def __init__(
        self,
        message: str,
        *,
        registry: str = "",
        image: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.registry = registry
        self.image = image
        self.status = status


class ManifestUnknown(RegistryError):
    """The tag or digest does not exist in the registry (HTTP 404); permanent."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials, or needs some (HTTP 401/403); permanent."""


class RegistryUnavailable(RegistryError):
    """5xx, 429, connection failure or timeout; transient, so the caller may retry."""

    transient = True


class _Credentials:
    """A username and password whose repr never shows the password."""

    __slots__ = ("password", "username")

    def __init__(self, username: str, password: str | SecretStr) -> None:
        self.username = username
        self.password = password if isinstance(password, SecretStr) else SecretStr(password)

    def __repr__(self) -> str:
        return f"_Credentials(username={self.username!r}, password=**********)"


class RegistryClient:
    """Asks registries for manifest digests; one instance can serve many registries and threads.

    `credentials` maps a registry host ("ghcr.io", "127.0.0.1:5002"; any Docker Hub alias
    for Docker Hub) to (username, password). Loopback and localhost registries are spoken to
    over plain HTTP, every other one over HTTPS. Every request is bounded by `timeout` seconds.
    """

    def __init__(
        self,
        credentials: Mapping[str, tuple[str, str | SecretStr]] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._credentials = {
            _host_key(host): _Credentials(user, password)
            for host, (user, password) in (credentials or {}).items()
        }
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=True
        )
        self._lock = threading.Lock()
        self._basic_hosts: set[str] = set()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    @classmethod
    def from_config(
        cls, registries: Iterable[RegistryConfig], *, timeout: float = DEFAULT_TIMEOUT
    ) -> RegistryClient:
        """A client with the credentials of deploy.yaml's images.registries."""
        credentials = {r.host: (r.username, r.password) for r in registries if r.password}
        return cls(credentials, timeout=timeout)

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient(hosts with credentials={sorted(self._credentials)})"

    def manifest_digest(self, ref: ImageRef) -> str:
        """The digest the registry serves for `ref` (its digest if pinned, else its tag)."""
        host = ref.registry_api_host
        url = f"{_scheme(host)}://{host}/v2/{ref.repository}/manifests/{ref.digest or ref.tag}"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        response = self._authorized("HEAD", url, headers, ref)
        if response.status_code == 200 and (
            digest := response.headers.get("docker-content-digest")
        ):
            return digest
        if response.status_code == 200:
            response = self._authorized("GET", url, headers, ref)
            if response.status_code == 200:
                return response.headers.get("docker-content-digest") or _sha256(response.content)
        raise self._error(response, ref)

    def exists(self, ref: ImageRef) -> bool:
        """Whether the registry has `ref`; auth and availability problems still raise."""
        try:
            self.manifest_digest(ref)
        except ManifestUnknown:
            return False
        return True

    def _authorized(
        self, method: str, url: str, headers: dict[str, str], ref: ImageRef
    ) -> httpx.Response:
        """Send with cached auth; on a 401 challenge, authenticate once and send again."""
        host = ref.registry_api_host
        scope = f"repository:{ref.repository}:pull"
        cached = self._cached_auth(host, scope)
        response = self._send(method, url, {**headers, **cached}, ref)
        if response.status_code != 401:
            return response
        scheme, params = _parse_challenge(response.headers.get("www-authenticate", ""))
        creds = self._credentials_for(ref)
        if scheme == "basic" and creds is not None and not cached:
            with self._lock:
                self._basic_hosts.add(host)
            auth = _basic(creds)
        elif scheme == "bearer" and "realm" in params:
            token = self._fetch_token(params, scope, ref)
            auth = {"Authorization": f"Bearer {token}"}
        else:
            return response
        return self._send(method, url, {**headers, **auth}, ref)

    def _cached_auth(self, host: str, scope: str) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get((host, scope))
            basic = host in self._basic_hosts
        if token is not None and token[1] > time.monotonic():
            return {"Authorization": f"Bearer {token[0]}"}
        creds = self._credentials.get(_host_key(host))
        return _basic(creds) if basic and creds is not None else {}

    def _fetch_token(self, params: dict[str, str], default_scope: str, ref: ImageRef) -> str:
        """The Bearer token flow: GET realm?service=&scope=, with Basic auth when configured."""
        host = ref.registry_api_host
        scope = params.get("scope") or default_scope
        query = {"scope": scope, **({"service": params["service"]} if "service" in params else {})}
        creds = self._credentials_for(ref)
        response = self._send(
            "GET", params["realm"], _basic(creds) if creds else {}, ref, params=query
        )
        if response.status_code != 200:
            raise self._error(response, ref, token_realm=params["realm"])
        try:
            body = response.json()
            token = body.get("token") or body.get("access_token")
            ttl = float(body.get("expires_in") or _TOKEN_TTL)
        except (ValueError, AttributeError, TypeError):
            token, ttl = None, 0.0
        if not isinstance(token, str) or not token:
            raise RegistryAuthError(
                f"registry {host}: the token service {params['realm']} answered without a token",
                registry=host,
                image=ref.familiar,
                status=response.status_code,
            )
        with self._lock:
            self._tokens[(host, default_scope)] = (token, time.monotonic() + max(ttl - 5, 1))
        return token

    def _send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        ref: ImageRef,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        host = ref.registry_api_host
        try:
            response = self._http.request(method, url, headers=headers, params=params)
        except httpx.TimeoutException as exc:
            raise RegistryUnavailable(
                f"registry {host} did not answer in time ({type(exc).__name__}) for {ref.familiar}",
                registry=host,
                image=ref.familiar,
            ) from exc
        except httpx.TransportError as exc:
            raise RegistryUnavailable(
                f"cannot reach registry {host} for {ref.familiar}: {type(exc).__name__}: {exc}",
                registry=host,
                image=ref.familiar,
            ) from exc
        return response

    def _credentials_for(self, ref: ImageRef) -> _Credentials | None:
        return self._credentials.get(_host_key(ref.registry))

    def _error(
        self, response: httpx.Response, ref: ImageRef, token_realm: str | None = None
    ) -> RegistryError:
        host = ref.registry_api_host
        status = response.status_code
        image = ref.familiar
        where = f" (token service {token_realm})" if token_realm else ""
        fields = {"registry": host, "image": image, "status": status}
        if status == 404 and token_realm is None:
            missing = f"digest {ref.digest}" if ref.digest else f"tag {ref.tag!r}"
            return ManifestUnknown(
                f"manifest unknown: {image}: {missing} does not exist in registry {host}"
                f" (repository {ref.repository})",
                **fields,
            )
        if status in (401, 403):
            return RegistryAuthError(self._auth_message(ref, status, where), **fields)
        if status == 429 or status >= 500:
            return RegistryUnavailable(
                f"registry {host}{where} answered HTTP {status} for {image}; try again later",
                **fields,
            )
        return RegistryError(f"registry {host}{where} answered HTTP {status} for {image}", **fields)

    def _auth_message(self, ref: ImageRef, status: int, where: str) -> str:
        host = ref.registry_api_host
        config_host = DOCKER_HUB if ref.registry == DOCKER_HUB else ref.registry
        creds = self._credentials_for(ref)
        head = f"registry {host}{where} refused access to {ref.familiar} (HTTP {status})"
        if creds is None:
            return (
                f"{head}: no credentials are set for {config_host} (or the repository does not"
                f" exist); set them in deploy.yaml under images.registries: host: {config_host},"
                " username: ..., password_env: NAME_OF_THE_PASSWORD_VARIABLE"
            )
        if status == 403:
            return (
                f"{head}: user {creds.username!r} may not pull {ref.repository}; grant it pull"
                f" access or set other credentials for {config_host} in images.registries"
            )
        return (
            f"{head}: the credentials of user {creds.username!r} were rejected (or the"
            f" repository does not exist); check the username and the password variable of"
            f" the images.registries entry for {config_host}"
        )


def with_retries(
    fn: Callable[[], T],
    attempts: int = 3,
    backoff: float = 1.0,
    jitter: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call `fn`, retrying transient RegistryErrors up to `attempts` calls in all.

    The wait before retry n (1-based) is backoff * 2**(n-1) plus up to `jitter` seconds.
    Permanent errors and the last transient one are raised as they are.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    attempt = 1
    while True:
        try:
            return fn()
        except RegistryError as exc:
            if not exc.transient or attempt >= attempts:
                raise
        sleep(backoff * 2 ** (attempt - 1) + random.uniform(0, jitter))
        attempt += 1


def _host_key(host: str) -> str:
    return DOCKER_HUB if host in _HUB_ALIASES else host


def _scheme(host: str) -> str:
    """http for loopback and localhost registries (as the Docker daemon allows), else https."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost" or name.endswith(".localhost"):
        return "http"
    try:
        return "http" if ipaddress.ip_address(name).is_loopback else "https"
    except ValueError:
        return "https"


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """("bearer", {"realm": ..., "service": ..., "scope": ...}) from a WWW-Authenticate value."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE.finditer(rest)
    }
    return scheme.lower(), params


def _basic(creds: _Credentials | None) -> dict[str, str]:
    if creds is None:
        return {}
    pair = f"{creds.username}:{creds.password.get_secret_value()}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
