"""The `images` section: pull parallelism, moving tags, per-service policy, registries (pure).

Registry passwords are read from the environment by dockyard.config.local."""

from __future__ import annotations

from typing import Literal, NamedTuple

from pydantic import Field, PrivateAttr, SecretStr, field_validator

from dockyard.config.fields import EnvName, FieldProblem, Int, Model, ServiceName
from dockyard.images.ref import ImageRef


class ServiceImage(Model):
    """Per-service pull policy override."""

    pull: Literal["always", "missing", "changed", "never"]


class RegistryConfig(Model):
    """Registry credentials; the password is read from `password_env` at load time."""

    host: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password_env: EnvName
    _password: SecretStr | None = PrivateAttr(None)

    @property
    def password(self) -> SecretStr | None:
        """The password read from `password_env`."""
        return self._password

    def with_password(self, password: SecretStr) -> RegistryConfig:
        """A copy holding the password the loader read for it."""
        copy = self.model_copy()
        copy._password = password
        return copy

    @field_validator("host")
    @classmethod
    def _bare_host(cls, value: str) -> str:
        if "://" in value or "/" in value:
            raise FieldProblem(f"bad registry host {value!r}", "use a bare host like ghcr.io")
        return value


class ImagesConfig(Model):
    """Pull planning: parallelism, mutable tags, per-service policy, per-deploy images."""

    parallel: Int = Field(3, ge=1, le=16)
    moving_tags: list[str] = ["latest"]
    services: dict[ServiceName, ServiceImage] = {}
    per_deploy: list[EnvName] = []
    registries: list[RegistryConfig] = []
    allowed_registries: list[str] = []

    @field_validator("allowed_registries")
    @classmethod
    def _registry_prefixes(cls, value: list[str]) -> list[str]:
        for entry in value:
            if not entry or "://" in entry or entry.endswith("/") or " " in entry:
                raise FieldProblem(
                    f"bad allowed registry {entry!r}",
                    "use a registry host, optionally with a repository prefix: ghcr.io, "
                    "127.0.0.1:5000/shop",
                )
        return value

    def registry_allowed(self, ref: ImageRef) -> bool:
        """Whether `ref` comes from `allowed_registries` (any registry when it is empty): its
        registry host, or a repository under a prefix like ghcr.io/shop."""
        if not self.allowed_registries:
            return True
        return any(ref.name == entry or ref.name.startswith(entry + "/")
                   for entry in self.allowed_registries)  # fmt: skip


class PerDeployImage(NamedTuple):
    """An image given for this deploy: the stack, the env name and the image reference."""

    project: str
    name: str
    ref: str
