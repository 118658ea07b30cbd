"""Registry HTTP client: manifest digests by HEAD, image manifests by GET, Basic/Bearer auth.

Every request ends by the step's deadline (`Deadline.left(timeout)`) on the wall clock, however
slowly the server sends; running past it raises StepTimeout. Bodies are streamed and cut at
MAX_BODY_BYTES. Errors are RegistryError subclasses whose `transient` decides retries."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from dockyard.config import RegistryConfig
from dockyard.deadline import Deadline
from dockyard.images.credentials import Login, RegistryLogins, registry_key
from dockyard.images.errors import (
    ManifestUnknown,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailable,
)
from dockyard.images.layers import ImageManifest, Platform, index_entry
from dockyard.images.ref import DOCKER_HUB_API_HOST, ImageRef
from dockyard.images.wallclock import WallClockTransport, until

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DEFAULT_TIMEOUT = 10.0
MAX_BODY_BYTES = 4 * 1024 * 1024  # a manifest, index or token answer; more is refused unread
MAX_REDIRECTS = 10

_CHALLENGE = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')
_TOKEN_TTL = 60.0
DOCKER_HUB_AUTH_HOST = "auth.docker.io"

Logins = RegistryLogins | Mapping[str, tuple[str, str | SecretStr]] | None


@dataclass(frozen=True)
class Answer:
    """A registry's answer, its body read whole (at most MAX_BODY_BYTES)."""

    status_code: int
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


class RegistryClient:
    """Asks registries for manifests; one instance can serve many registries and threads.

    `logins` are the configured credentials (RegistryLogins, or a host -> (user, password)
    mapping; any Docker Hub alias is Docker Hub). Loopback and localhost registries are spoken
    to over plain HTTP, every other one over HTTPS. Each request waits at most `timeout`
    seconds, and never past `deadline` when one is given.
    """

    def __init__(
        self,
        logins: Logins = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        deadline: Deadline | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.logins = logins if isinstance(logins, RegistryLogins) else RegistryLogins(logins)
        self._timeout = timeout
        self._deadline = deadline
        self._http = httpx.Client(  # a proxy from the environment (HTTPS_PROXY) still applies
            timeout=httpx.Timeout(timeout),
            transport=transport,
            mounts=None if transport else {"all://": WallClockTransport()},
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
        )
        self._lock = threading.Lock()
        self._basic_hosts: set[str] = set()
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}

    @classmethod
    def from_config(
        cls,
        registries: Iterable[RegistryConfig],
        *,
        deadline: Deadline | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> RegistryClient:
        """A client with the credentials of deploy.yaml's images.registries."""
        return cls(RegistryLogins.from_config(registries), timeout=timeout, deadline=deadline)

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RegistryClient(hosts with credentials={self.logins.hosts})"

    def manifest_digest(self, ref: ImageRef) -> str:
        """The digest the registry serves for `ref` (its digest if pinned, else its tag)."""
        url = _manifest_url(ref, ref.digest or ref.tag or "")
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

    def image_manifest(self, ref: ImageRef, platform: Platform) -> ImageManifest:
        """The image manifest (config and layers with their sizes) of `ref` for `platform`:
        an index or manifest list is resolved to its entry for that platform."""
        document = self._get_manifest(ref, ref.digest or ref.tag or "")
        if "manifests" in document:
            digest = index_entry(document, platform, ref.familiar)
            document = self._get_manifest(ref, digest)
        return ImageManifest.from_json(document, ref.familiar)

    def _get_manifest(self, ref: ImageRef, reference: str) -> dict[str, Any]:
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        response = self._authorized("GET", _manifest_url(ref, reference), headers, ref)
        if response.status_code != 200:
            raise self._error(response, ref)
        try:
            document = json.loads(response.content)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise RegistryError(
                f"registry {ref.registry_api_host} served a manifest for {ref.familiar} that is"
                " not a JSON object",
                registry=ref.registry_api_host,
                image=ref.familiar,
            )
        return document

    def _authorized(self, method: str, url: str, headers: dict[str, str], ref: ImageRef) -> Answer:
        """Send with cached auth; on a 401 challenge, authenticate once and send again."""
        host = ref.registry_api_host
        scope = f"repository:{ref.repository}:pull"
        cached = self._cached_auth(ref, scope)
        response = self._send(method, url, {**headers, **cached}, ref)
        if response.status_code != 401:
            return response
        scheme, params = _parse_challenge(response.headers.get("www-authenticate", ""))
        login = self.logins.credentials_for(ref)
        if scheme == "basic" and login is not None and not cached:
            with self._lock:
                self._basic_hosts.add(host)
            auth = login.basic_header()
        elif scheme == "bearer" and "realm" in params:
            token = self._fetch_token(params, scope, ref)
            auth = {"Authorization": f"Bearer {token}"}
        else:
            return response
        return self._send(method, url, {**headers, **auth}, ref)

    def _cached_auth(self, ref: ImageRef, scope: str) -> dict[str, str]:
        host = ref.registry_api_host
        with self._lock:
            token = self._tokens.get((host, scope))
            basic = host in self._basic_hosts
        if token is not None and token[1] > time.monotonic():
            return {"Authorization": f"Bearer {token[0]}"}
        login = self.logins.credentials_for(ref)
        return login.basic_header() if basic and login is not None else {}

    def _fetch_token(self, params: dict[str, str], default_scope: str, ref: ImageRef) -> str:
        """The Bearer token flow: GET realm?service=&scope=, with Basic auth when configured."""
        host = ref.registry_api_host
        scope = params.get("scope") or default_scope
        query = {"scope": scope, **({"service": params["service"]} if "service" in params else {})}
        login = self.logins.credentials_for(ref)
        if login is not None and (problem := _realm_problem(params["realm"], host)):
            raise RegistryAuthError(
                f"registry {host} sent its login to the token service {params['realm']!r},"
                f" which {problem}; the credentials of {registry_key(ref.registry)} are not"
                " sent there. Check the registry address (a proxy or mirror in between?)",
                registry=host,
                image=ref.familiar,
            )
        headers = login.basic_header() if login else {}
        response = self._send("GET", params["realm"], headers, ref, params=query)
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
    ) -> Answer:
        """One request, ended within `timeout` (and the step's deadline) on the wall clock,
        its body streamed and refused past MAX_BODY_BYTES."""
        host = ref.registry_api_host
        doing = f"asking registry {host} about {ref.familiar}"
        budget = self._timeout
        if self._deadline is not None:
            self._deadline.check(doing)
            budget = self._deadline.left(self._timeout)
        headers = {"Accept-Encoding": "identity", **headers}
        try:
            with (
                until(time.monotonic() + budget),
                self._http.stream(
                    method, url, headers=headers, params=params, timeout=httpx.Timeout(budget)
                ) as response,
            ):
                return Answer(response.status_code, response.headers, _body(response, ref))
        except httpx.TooManyRedirects as exc:
            raise RegistryError(
                f"registry {host} redirected over {MAX_REDIRECTS} times for {ref.familiar}"
                f" ({exc.request.url.host}); check the registry address in the image name",
                registry=host,
                image=ref.familiar,
            ) from None
        except httpx.TimeoutException as exc:
            if self._deadline is not None and self._deadline.expired:
                raise self._deadline.timed_out(doing) from exc
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

    def _error(
        self, response: Answer, ref: ImageRef, token_realm: str | None = None
    ) -> RegistryError:
        host = ref.registry_api_host
        status = response.status_code
        image = ref.familiar
        where = f" (token service {token_realm})" if token_realm else ""
        fields: dict[str, Any] = {"registry": host, "image": image, "status": status}
        if status == 404 and token_realm is None:
            missing = f"digest {ref.digest}" if ref.digest else f"tag {ref.tag!r}"
            return ManifestUnknown(
                f"manifest unknown: {image}: {missing} does not exist in registry {host}"
                f" (repository {ref.repository})",
                **fields,
            )
        if status in (401, 403):
            login = self.logins.credentials_for(ref)
            return RegistryAuthError(_auth_message(ref, login, status, where), **fields)
        if status == 429 or status >= 500:
            return RegistryUnavailable(
                f"registry {host}{where} answered HTTP {status} for {image}; try again later",
                **fields,
            )
        return RegistryError(f"registry {host}{where} answered HTTP {status} for {image}", **fields)


def _body(response: httpx.Response, ref: ImageRef) -> bytes:
    """The body, read chunk by chunk and refused once it passes MAX_BODY_BYTES."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_big(ref, f"{declared} bytes")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_big(ref, f"over {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _too_big(ref: ImageRef, size: str) -> RegistryError:
    host = ref.registry_api_host
    return RegistryError(
        f"registry {host} answered with {size} for {ref.familiar}; at most {MAX_BODY_BYTES}"
        " are read (a manifest is a few KB): check that it is an OCI registry",
        registry=host,
        image=ref.familiar,
    )


def _auth_message(ref: ImageRef, login: Login | None, status: int, where: str) -> str:
    host = ref.registry_api_host
    config_host = registry_key(ref.registry)
    head = f"registry {host}{where} refused access to {ref.familiar} (HTTP {status})"
    if login is None:
        return (
            f"{head}: no credentials are set for {config_host} (or the repository does not"
            f" exist); set them in deploy.yaml under images.registries: host: {config_host},"
            " username: ..., password_env: NAME_OF_THE_PASSWORD_VARIABLE"
        )
    if status == 403:
        return (
            f"{head}: user {login.username!r} may not pull {ref.repository}; grant it pull"
            f" access or set other credentials for {config_host} in images.registries"
        )
    return (
        f"{head}: the credentials of user {login.username!r} were rejected (or the"
        f" repository does not exist); check the username and the password variable of"
        f" the images.registries entry for {config_host}"
    )


def _realm_problem(realm: str, registry_host: str) -> str:
    """Why a token realm may not get the registry's Basic credentials ("" if it may): it must
    be https (plain http only on loopback) on the registry's own host, its parent domain
    (registry.gitlab.com -> gitlab.com) or, for Docker Hub, auth.docker.io."""
    try:
        url = httpx.URL(realm)
    except httpx.InvalidURL:
        return "is not a URL"
    registry = _host_name(registry_host)
    if url.scheme != "https" and not (url.scheme == "http" and _scheme(url.host) == "http"):
        return f"is {url.scheme or 'no'}:// (credentials go only over https, or http on loopback)"
    same = (
        url.host == registry
        or ("." in url.host and registry.endswith("." + url.host))
        or (registry == DOCKER_HUB_API_HOST and url.host == DOCKER_HUB_AUTH_HOST)
    )
    return "" if same else f"is on another host than {registry}"


def _host_name(host: str) -> str:
    """The name of a `host[:port]` (IPv6 without brackets)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _manifest_url(ref: ImageRef, reference: str) -> str:
    host = ref.registry_api_host
    return f"{_scheme(host)}://{host}/v2/{ref.repository}/manifests/{reference}"


def _scheme(host: str) -> str:
    """http for loopback and localhost registries (as the Docker daemon allows), else https."""
    name = _host_name(host)
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


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()
