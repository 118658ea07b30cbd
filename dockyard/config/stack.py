"""The `stacks` section: one compose project's bundle, remote dir, env, jobs, up and health.

Pure: whether the bundle and its files exist is checked by dockyard.config.local."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal, TypeVar

from pydantic import Field, SecretStr, field_validator, model_validator

from dockyard.compose.dotenv import DotenvError, parse
from dockyard.config.fields import (
    Duration,
    EnvName,
    EnvValue,
    FieldProblem,
    HttpUrl,
    Int,
    Model,
    PositiveDuration,
    ServiceName,
    named,
)

BUNDLE_ENV = ".env"
_V = TypeVar("_V")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_REMOTE_DIR = re.compile(r"/[A-Za-z0-9._/@+-]*")


def merged_environment(dotenv: Mapping[str, _V], env: Mapping[str, _V]) -> dict[str, _V]:
    """The project's environment as compose sees it on the host: the bundle's `.env` values
    with the stack's `env` on top (stack values win)."""
    return {**dotenv, **env}


def _relative(name: str, loc: tuple[str | int, ...]) -> None:
    if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        raise FieldProblem(
            f"{name!r} must be a relative path inside the bundle", "drop the leading / or ..", loc
        )


class JobConfig(Model):
    """A one-off step before `up`: `compose run --rm` or start a service and wait healthy."""

    name: str = Field(min_length=1)
    service: ServiceName
    command: list[str] | None = None
    kind: Literal["run", "up-wait"] = "run"
    timeout: PositiveDuration = 600.0
    retries: Int = Field(0, ge=0, le=10)
    rerun_safe: bool = False

    @model_validator(mode="after")
    def _check(self) -> JobConfig:
        if self.kind == "up-wait" and self.command is not None:
            raise FieldProblem(
                "an up-wait job starts the service as defined; it takes no command",
                "drop command, or use kind: run",
                ("command",),
            )
        if self.kind == "run" and self.retries and not self.rerun_safe:
            raise FieldProblem(
                "retries on a job that is not rerun_safe could apply it twice",
                "set rerun_safe: true if running it again is harmless, or retries: 0",
                ("retries",),
            )
        return self


class UpConfig(Model):
    """How `compose up` runs."""

    stop_first: list[ServiceName] = []
    remove_orphans: bool = True
    wait_timeout: PositiveDuration = 300.0


class RestartRule(Model):
    """Restart `service` when the hash of `files` (inside the bundle) changes."""

    service: ServiceName
    files: list[str] = Field(min_length=1)


class HttpCheck(Model):
    """HTTP readiness: `url` must answer `status` within `attempts` tries (https: verified
    against the system CAs, or only `ca_file`, relative to the config file)."""

    url: HttpUrl
    status: Int = Field(200, ge=100, le=599)
    attempts: Int = Field(30, ge=1)
    interval: Duration = 2.0
    timeout: PositiveDuration = 5.0
    ca_file: Path | None = None


class HealthHook(Model):
    """A post-deploy check: an HTTP URL, or a command run in a service."""

    name: str = Field(min_length=1)
    http: HttpUrl | None = None
    service: ServiceName | None = None
    command: list[str] | None = None
    timeout: PositiveDuration = 60.0

    @model_validator(mode="after")
    def _check(self) -> HealthHook:
        if (self.http is None) == (self.service is None and self.command is None):
            raise FieldProblem(
                "a hook needs either http or service + command", "keep exactly one of them"
            )
        if self.http is None and (self.service is None or not self.command):
            missing = "service" if self.service is None else "command"
            raise FieldProblem(f"hook has no {missing}", f"add {missing}:", (missing,))
        return self


class HealthConfig(Model):
    """Post-up checks: compose health, HTTP readiness, hooks."""

    compose: bool = True
    http: list[HttpCheck] = []
    hooks: list[HealthHook] = []


class StackConfig(Model):
    """One compose project: its bundle, remote directory, env and deploy steps."""

    project: Annotated[
        str,
        named(_PROJECT, "project name", "use lowercase letters, digits, _ and -, e.g. shop"),
    ]
    bundle: Path
    remote_dir: str
    compose_files: list[str] = Field(["docker-compose.yml"], min_length=1)
    profiles: list[ServiceName] = []
    one_shot: list[ServiceName] = []
    env: dict[EnvName, EnvValue] = {}
    required: list[EnvName] = []
    jobs: list[JobConfig] = []
    up: UpConfig = UpConfig()
    restarts: list[RestartRule] = []
    health: HealthConfig = HealthConfig()

    @field_validator("remote_dir")
    @classmethod
    def _check_remote_dir(cls, value: str) -> str:
        fix = "use a normal absolute path of letters, digits and ._-@+, e.g. /opt/shop"
        if not _REMOTE_DIR.fullmatch(value):
            raise FieldProblem(f"bad remote_dir {value!r}", fix)
        if "//" in value or {".", ".."} & set(value.split("/")):
            raise FieldProblem(f"remote_dir {value!r} is not a normal path (// . or ..)", fix)
        if value == "/":
            raise FieldProblem("remote_dir is /", "use a directory of its own, e.g. /opt/shop")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _check_paths(self) -> StackConfig:
        for i, name in enumerate(self.compose_files):
            _relative(name, ("compose_files", i))
        for i, rule in enumerate(self.restarts):
            for j, name in enumerate(rule.files):
                _relative(name, ("restarts", i, "files", j))
        names = [job.name for job in self.jobs]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise FieldProblem(
                    f"job name {name!r} is used twice", "give each job its own name",
                    ("jobs", i, "name"),
                )  # fmt: skip
        return self

    def revealed_env(self) -> dict[str, str]:
        """The env with secrets revealed: only for writing the 0600 .env file."""
        return {
            k: v.get_secret_value() if isinstance(v, SecretStr) else v for k, v in self.env.items()
        }

    def project_env(self) -> dict[str, str]:
        """The deployed .env's variables (secrets revealed): project_environment of the bundle
        and this stack's env."""
        return project_environment(self.bundle, self.revealed_env())

    def service_refs(self) -> list[tuple[str, str]]:
        """(field path, service) for every service this stack names, to check against compose."""
        refs = [(f"jobs[{i}].service", job.service) for i, job in enumerate(self.jobs)]
        refs += [(f"up.stop_first[{i}]", s) for i, s in enumerate(self.up.stop_first)]
        refs += [(f"restarts[{i}].service", r.service) for i, r in enumerate(self.restarts)]
        refs += [(f"one_shot[{i}]", s) for i, s in enumerate(self.one_shot)]
        refs += [
            (f"health.hooks[{i}].service", h.service)
            for i, h in enumerate(self.health.hooks)
            if h.service
        ]
        return refs


def project_environment(bundle_dir: Path, stack_env: Mapping[str, str]) -> dict[str, str]:
    """The project's environment as compose sees it on the host: the bundle's `.env` (read by
    compose's rules; `${X}` in it resolves from `stack_env` first, then its earlier lines) with
    `stack_env` on top (stack values win). Raises DotenvError naming the file and line."""
    path = bundle_dir / BUNDLE_ENV
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return dict(stack_env)
    except (OSError, UnicodeDecodeError) as exc:
        raise DotenvError(
            f"{path}: cannot read it ({exc}); make it a readable UTF-8 file"
        ) from None
    try:
        found = parse(text, stack_env.get)
    except DotenvError as exc:
        raise DotenvError(f"{path}: {exc}; fix that line (compose would refuse it too)") from None
    return {**found, **stack_env}
