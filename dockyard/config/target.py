"""The `targets` section: one host's address, login, key source, host-key pin and link tuning.

Pure: the key files, known_hosts and key secrets are read by dockyard.config.local."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    model_validator,
)

from dockyard.config.fields import (
    Duration,
    EnvName,
    FieldProblem,
    Int,
    Model,
    PositiveDuration,
    named,
)
from dockyard.ssh.keys import KeyProblem, parse_host_key
from dockyard.ssh.limits import KEEPALIVE_FIX, MAX_CHANNELS, keepalive_problem
from dockyard.ssh.settings import LinkSettings, known_hosts_name

_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HOST_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}")
_POOL = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def _host(value: str) -> str:
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.split(".")
    if len(value) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        bracketed = value.startswith("[") and value.endswith("]")
        raise FieldProblem(
            f"host {value!r} is not a host name or IP address",
            "write the address without brackets (port goes in port:)"
            if bracketed
            else "use a host name (letters, digits, - and . only) or an IP address, "
            "without spaces, user@ or :port",
        )
    return value


def _user(value: str) -> str:
    if not _USER.fullmatch(value):
        raise FieldProblem(
            f"user {value!r} is not a login name",
            "use letters, digits and ._- (not starting with - or .), at most 32 characters",
        )
    return value


class TargetConfig(Model):
    """One host: address, SSH key source, pinned host key, link tuning, and the Prefect work
    pool whose workers deploy it (`pool`; none: the deploy run itself does)."""

    name: Annotated[
        str, named(_TARGET_NAME, "target name", "use letters, digits and ._- (e.g. vm1)")
    ]
    host: Annotated[str, Field(min_length=1), AfterValidator(_host)]
    port: Int = Field(22, ge=1, le=65535)
    user: Annotated[str, Field(min_length=1), AfterValidator(_user)] = "root"
    key_file: Path | None = None
    key_env: EnvName | None = None
    agent: bool = False
    key_passphrase_env: EnvName | None = None
    known_hosts: Path | None = None
    host_key: str | None = None
    keepalive_interval: Duration = 15.0
    keepalive_count_max: Int = Field(4, ge=0)
    connect_timeout: PositiveDuration = 10.0
    max_channels: Int = Field(8, ge=1, le=MAX_CHANNELS)
    pool: (
        Annotated[str, named(_POOL, "work pool name",
                             "use lowercase letters, digits and - (e.g. dc-east), at most 63")]
        | None
    ) = None  # fmt: skip
    _private_key: SecretStr | None = PrivateAttr(None)
    _passphrase: SecretStr | None = PrivateAttr(None)

    @property
    def private_key(self) -> SecretStr | None:
        """Key data read from `key_env` at load time (None for key_file or agent)."""
        return self._private_key

    @property
    def passphrase(self) -> SecretStr | None:
        """Passphrase read from `key_passphrase_env` at load time."""
        return self._passphrase

    @property
    def known_hosts_name(self) -> str:
        """The name this host has in known_hosts (`[host]:port` unless port 22)."""
        return known_hosts_name(self.host, self.port)

    def link_settings(self) -> LinkSettings:
        """The SSH link settings of this validated target (key data and passphrase read at load)."""
        return LinkSettings(
            name=self.name,
            host=self.host,
            port=self.port,
            user=self.user,
            key_file=self.key_file,
            key_data=self.private_key.get_secret_value() if self.private_key else None,
            key_passphrase=self.passphrase.get_secret_value() if self.passphrase else None,
            use_agent=self.agent,
            known_hosts=self.known_hosts,
            host_key=self.host_key,
            keepalive_interval=self.keepalive_interval,
            keepalive_count_max=self.keepalive_count_max,
            connect_timeout=self.connect_timeout,
            max_channels=self.max_channels,
        )

    def with_secrets(
        self, private_key: SecretStr | None, passphrase: SecretStr | None
    ) -> TargetConfig:
        """A copy holding the key data and passphrase the loader read for it."""
        copy = self.model_copy()
        copy._private_key = private_key
        copy._passphrase = passphrase
        return copy

    @model_validator(mode="after")
    def _check_key_source(self) -> TargetConfig:
        sources = [k for k in ("key_file", "key_env") if getattr(self, k)] + (
            ["agent"] if self.agent else []
        )
        if len(sources) > 1:
            raise FieldProblem(
                f"{' and '.join(sources)} are both set",
                "keep one key source: key_file, key_env or agent: true",
                (sources[1],),
            )
        if not sources:
            raise FieldProblem(
                "no SSH key source", "set key_file, key_env or agent: true", ("key_file",)
            )
        return self

    @model_validator(mode="after")
    def _check_host_key(self) -> TargetConfig:
        if self.known_hosts and self.host_key:
            raise FieldProblem(
                "known_hosts and host_key are both set", "pin the host key one way", ("host_key",)
            )
        if self.host_key:
            try:
                parse_host_key(self.host_key)
            except KeyProblem as exc:
                raise FieldProblem(str(exc), exc.fix, ("host_key",)) from None
        elif not self.known_hosts:
            raise FieldProblem(
                "no host key pinned",
                "set known_hosts: <file> or host_key: 'ssh-ed25519 AAAA...' "
                f"(get it with: ssh-keyscan -p {self.port} {self.host})",
                ("known_hosts",),
            )
        if keepalive := keepalive_problem(self.keepalive_interval, self.keepalive_count_max):
            raise FieldProblem(keepalive, KEEPALIVE_FIX, ("keepalive_count_max",))
        return self


def unique_target_names(targets: list[TargetConfig]) -> None:
    """Refuse two targets of the same name."""
    names = [t.name for t in targets]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise FieldProblem(
                f"target name {name!r} is used twice", "give each target its own name",
                ("targets", i, "name"),
            )  # fmt: skip


class TargetList(BaseModel):
    """Only the `targets` section (for `dockyard exec`); other sections are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    targets: list[TargetConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> TargetList:
        unique_target_names(self.targets)
        return self
