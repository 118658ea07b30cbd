"""The `stacks` section: one compose project's bundle, remote dir, env, jobs, up and health.

Pure but for project_environment, which reads the bundle's .env (bounded); whether the bundle
and its files exist is checked by dockyard.config.local."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from dockyard import yamlsafe
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
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_REMOTE_DIR = re.compile(r"/[A-Za-z0-9._/@+-]*")


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


class ProxyReload(Model):
    """A command run in the stack's proxy service after a start-first replacement (for proxies
    that resolve a service's address once)."""

    service: ServiceName
    command: list[str] = Field(min_length=1)


class ReadyCheck(Model):
    """A start-first service's HTTP readiness: GET `path` on the new container's own address
    and `port` (from the host) answers `status`; each attempt within `timeout`."""

    port: Int
    path: str = "/"
    status: Int = 200
    timeout: PositiveDuration = 2.0

    @field_validator("port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 1 <= value <= 65535:
            fix = "give the container port the service listens on, 1-65535"
            raise FieldProblem(f"port {value} is not a TCP port", fix)
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: int) -> int:
        if not 100 <= value <= 599:
            fix = "give the status a ready service answers, 100-599 (e.g. 200)"
            raise FieldProblem(f"status {value} is not an HTTP status", fix)
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise FieldProblem(f"path {value!r} is not a request path",
                               "start it with / and leave out spaces, e.g. /healthz")  # fmt: skip
        return value


class UpConfig(Model):
    """How `compose up` runs; `start_first` services are replaced new-beside-old, health-gated
    (its healthcheck, and its `http_check` if it has one, within `wait_timeout`), the old one
    drained (`pre_stop` run in it, then `drain` seconds)."""

    stop_first: list[ServiceName] = []
    start_first: list[ServiceName] = []
    drain: Duration = 0.0
    pre_stop: dict[ServiceName, list[str]] = {}
    http_check: dict[ServiceName, ReadyCheck] = {}
    reload: ProxyReload | None = None
    remove_orphans: bool = True
    wait_timeout: PositiveDuration = 300.0

    @model_validator(mode="after")
    def _check(self) -> UpConfig:
        for i, name in enumerate(self.start_first):
            if name in self.stop_first:
                raise FieldProblem(
                    f"service {name!r} is both stop_first and start_first",
                    "keep it in one of the two lists", ("start_first", i),
                )  # fmt: skip
            if name in self.start_first[:i]:
                raise FieldProblem(f"service {name!r} is listed twice", "list it once",
                                   ("start_first", i))  # fmt: skip
        for name in self.pre_stop:
            if name not in self.start_first:
                raise FieldProblem(
                    f"pre_stop names {name!r}, which is not in start_first",
                    f"add {name} to start_first, or drop its pre_stop", ("pre_stop", name),
                )  # fmt: skip
            if not self.pre_stop[name]:
                raise FieldProblem(f"pre_stop of {name!r} is empty",
                                   "give the command as a list, e.g. [nginx, -s, quit]",
                                   ("pre_stop", name))  # fmt: skip
        for name in self.http_check:
            if name not in self.start_first:
                raise FieldProblem(
                    f"http_check names {name!r}, which is not in start_first",
                    f"add {name} to start_first, or drop its http_check", ("http_check", name),
                )  # fmt: skip
        return self


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
        refs += [(f"up.start_first[{i}]", s) for i, s in enumerate(self.up.start_first)]
        if self.up.reload:
            refs.append(("up.reload.service", self.up.reload.service))
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
    compose's rules, bounded; `${X}` in it resolves from `stack_env` first, then its earlier
    lines) with `stack_env` on top (stack values win). Raises DotenvError naming the file (and
    line) and the fix."""
    path = bundle_dir / BUNDLE_ENV
    if not path.exists() or path.is_dir():  # compose ignores a default .env that is a dir
        return dict(stack_env)
    try:
        text = yamlsafe.read_text(path, ".env file")
    except yamlsafe.YamlProblem as exc:
        raise DotenvError(f"{path}: {exc}; {exc.fix}") from None
    try:
        found = parse(text, stack_env.get)
    except DotenvError as exc:
        raise DotenvError(f"{path}: {exc}; fix that line (compose would refuse it too)") from None
    return {**found, **stack_env}
