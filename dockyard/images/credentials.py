"""Registry logins matched one way: `credentials_for(ref)` serves digest checks and pulls alike."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping

from pydantic import SecretStr

from dockyard.config import RegistryConfig
from dockyard.images.ref import DOCKER_HUB, DOCKER_HUB_API_HOST, ImageRef

HUB_ALIASES = frozenset({DOCKER_HUB, DOCKER_HUB_API_HOST, "index.docker.io"})


def registry_key(host: str) -> str:
    """The one name of a registry: any Docker Hub alias is docker.io, other hosts as given."""
    return DOCKER_HUB if host in HUB_ALIASES else host


class Login:
    """A username and password whose repr never shows the password."""

    __slots__ = ("password", "username")

    def __init__(self, username: str, password: str | SecretStr) -> None:
        self.username = username
        self.password = password if isinstance(password, SecretStr) else SecretStr(password)

    def __repr__(self) -> str:
        return f"Login(username={self.username!r}, password=**********)"

    def basic_header(self) -> dict[str, str]:
        """The HTTP Basic Authorization header for the registry API."""
        pair = f"{self.username}:{self.password.get_secret_value()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}

    def auth_config(self) -> dict[str, str]:
        """The engine's pull auth (docker-py auth_config)."""
        return {"username": self.username, "password": self.password.get_secret_value()}


class RegistryLogins:
    """The configured logins by registry; `credentials_for(ref)` is the only lookup."""

    def __init__(self, logins: Mapping[str, tuple[str, str | SecretStr]] | None = None) -> None:
        self._logins = {
            registry_key(host): Login(user, password)
            for host, (user, password) in (logins or {}).items()
        }

    @classmethod
    def from_config(cls, registries: Iterable[RegistryConfig]) -> RegistryLogins:
        """The logins of deploy.yaml's images.registries (entries without a password skipped)."""
        return cls({r.host: (r.username, r.password) for r in registries if r.password})

    def credentials_for(self, ref: ImageRef) -> Login | None:
        """The login for `ref`'s registry (Docker Hub aliases are one registry), or None."""
        return self._logins.get(registry_key(ref.registry))

    @property
    def hosts(self) -> list[str]:
        return sorted(self._logins)

    def __repr__(self) -> str:
        return f"RegistryLogins(hosts={self.hosts})"
