"""The deploy.yaml model: targets, stacks, images, disk and step policies, validated by pydantic."""

from __future__ import annotations

import math
import os
import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, NamedTuple
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dockyard.ssh.keys import KeyProblem, known_hosts_name, load_known_hosts, parse_host_key

STEP_NAMES = (
    "connect", "lock", "verify", "sync", "env", "disk", "pull",
    "jobs", "up", "restarts", "health", "record", "cleanup",
)  # fmt: skip

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SERVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_REMOTE_DIR = re.compile(r"/[A-Za-z0-9._/@+-]*")
_DURATION = re.compile(
    r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m(?!s))?"
    r"(?:(?P<s>\d+(?:\.\d+)?)s)?(?:(?P<ms>\d+)ms)?"
)
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION_FIX = "use seconds (90) or a string like 90s, 5m, 1h, 1m30s"


class FieldProblem(ValueError):
    """A validation failure that carries its fix; `at` narrows the location below the model."""

    def __init__(self, message: str, fix: str, at: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.at = at


def parse_duration(value: object) -> float:
    """Seconds from a number or a string like "90", "90s", "5m", "1h", "1m30s", "500ms"."""
    seconds: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"\d+(?:\.\d+)?", text):
            seconds = float(text)
        elif text and (match := _DURATION.fullmatch(text)):
            seconds = sum(float(n) * _UNIT_SECONDS[u] for u, n in match.groupdict().items() if n)
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise FieldProblem(f"bad duration {value!r}", _DURATION_FIX)
    return seconds


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise FieldProblem("duration must be more than 0", _DURATION_FIX)
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]


def _named(pattern: re.Pattern[str], what: str, fix: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise FieldProblem(f"bad {what} {value!r}", fix)
        return value

    return AfterValidator(check)


EnvName = Annotated[
    str, _named(_ENV_NAME, "variable name", "use letters, digits and _, not starting with a digit")
]
ServiceName = Annotated[
    str, _named(_SERVICE, "service name", "use the service name from the compose file")
]


def _env_scalar(value: object) -> str | SecretStr:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str | SecretStr):
        return value
    raise FieldProblem("env value must be a single value", 'write a string, e.g. KEY: "value"')


def _env_literal(value: str | SecretStr) -> str | SecretStr:
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    if "'" in text or "\n" in text or "\r" in text:
        raise FieldProblem(
            "env value contains a single quote or a line break, which the stack's .env file "
            "cannot carry literally",
            "remove it from the value (the value itself is not shown here)",
        )
    return value


EnvValue = Annotated[str | SecretStr, BeforeValidator(_env_scalar), AfterValidator(_env_literal)]


def _context(info: ValidationInfo) -> tuple[Path, Mapping[str, str]]:
    context = info.context or {}
    return Path(context.get("base_dir") or Path.cwd()), context.get("environ", os.environ)


def _local_path(value: Path, info: ValidationInfo) -> Path:
    path = Path(os.path.expanduser(value))
    return Path(os.path.normpath(path if path.is_absolute() else _context(info)[0] / path))


def _readable_file(path: Path, what: str) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise FieldProblem(
            f"cannot read {what} {path}: {exc.strerror or exc}",
            f"fix the path (relative paths start at the config file's directory) or create {what}",
        ) from None


def _inside_bundle(bundle: Path, name: str, loc: tuple[str | int, ...]) -> None:
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise FieldProblem(
            f"{name!r} must be a relative path inside the bundle", "drop the leading / or ..", loc
        )
    if not (bundle / name).is_file():
        raise FieldProblem(
            f"{name!r} is not a file in bundle {bundle}",
            "create it there or fix the name (paths are relative to the bundle)",
            loc,
        )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TargetConfig(_Model):
    """One host: address, SSH key source, pinned host key and link tuning."""

    name: Annotated[
        str, _named(_TARGET_NAME, "target name", "use letters, digits and ._- (e.g. vm1)")
    ]
    host: str = Field(min_length=1)
    port: int = Field(22, ge=1, le=65535)
    user: str = Field("root", min_length=1)
    key_file: Path | None = None
    key_env: EnvName | None = None
    agent: bool = False
    key_passphrase_env: EnvName | None = None
    known_hosts: Path | None = None
    host_key: str | None = None
    keepalive_interval: Duration = 15.0
    keepalive_count_max: int = Field(4, ge=0)
    connect_timeout: PositiveDuration = 10.0
    max_channels: int = Field(8, ge=1, le=9)
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

    @field_validator("key_file", "known_hosts")
    @classmethod
    def _resolve_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _local_path(value, info)
        _readable_file(path, str(info.field_name))
        if info.field_name == "key_file" and path.read_bytes()[:4] == b"ssh-":
            raise FieldProblem(
                f"{path} is a public key", "point key_file at the private key (without .pub)"
            )
        return path

    @model_validator(mode="after")
    def _check_key_source(self, info: ValidationInfo) -> TargetConfig:
        environ = _context(info)[1]
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
        if self.agent and not environ.get("SSH_AUTH_SOCK"):
            raise FieldProblem(
                "agent: true but SSH_AUTH_SOCK is not set",
                "start ssh-agent and ssh-add the deploy key, or use key_file/key_env",
                ("agent",),
            )
        if self.key_env:
            self._private_key = _secret_env(environ, self.key_env, "key_env")
            if "PRIVATE KEY-----" not in self._private_key.get_secret_value():
                raise FieldProblem(
                    f"${self.key_env} does not hold a private key (no '-----BEGIN ... PRIVATE "
                    "KEY-----' line)",
                    f"put the whole private key file into {self.key_env}, newlines included",
                    ("key_env",),
                )
        if self.key_passphrase_env:
            self._passphrase = _secret_env(environ, self.key_passphrase_env, "key_passphrase_env")
        return self

    @model_validator(mode="after")
    def _check_host_key(self) -> TargetConfig:
        if self.known_hosts and self.host_key:
            raise FieldProblem(
                "known_hosts and host_key are both set", "pin the host key one way", ("host_key",)
            )
        if self.host_key:
            _parse_host_key(self.host_key)
        elif self.known_hosts:
            self._check_known_hosts(self.known_hosts)
        else:
            raise FieldProblem(
                "no host key pinned",
                "set known_hosts: <file> or host_key: 'ssh-ed25519 AAAA...' "
                f"(get it with: ssh-keyscan -p {self.port} {self.host})",
                ("known_hosts",),
            )
        if self.keepalive_interval > 0 and self.keepalive_count_max < 1:
            raise FieldProblem(
                "keepalive_count_max must be at least 1 when keepalive is on",
                "set keepalive_count_max: 4, or keepalive_interval: 0 to turn keepalive off",
                ("keepalive_count_max",),
            )
        return self

    def _check_known_hosts(self, path: Path) -> None:
        try:
            keys = load_known_hosts(path)
        except KeyProblem as exc:
            raise FieldProblem(str(exc), exc.fix, ("known_hosts",)) from None
        if keys.lookup(self.known_hosts_name) is None:
            raise FieldProblem(
                f"{path} has no key for {self.known_hosts_name}",
                f"add it: ssh-keyscan -p {self.port} {self.host} >> {path} (then verify it)",
                ("known_hosts",),
            )


def _secret_env(environ: Mapping[str, str], name: str, field: str) -> SecretStr:
    if name not in environ:
        raise FieldProblem(
            f"environment variable {name} is not set",
            f"export {name} (in CI: map the secret to this env var)",
            (field,),
        )
    return SecretStr(environ[name])


def _parse_host_key(line: str) -> None:
    try:
        parse_host_key(line)
    except KeyProblem as exc:
        raise FieldProblem(str(exc), exc.fix, ("host_key",)) from None


class JobConfig(_Model):
    """A one-off step before `up`: `compose run --rm` or start a service and wait healthy."""

    name: str = Field(min_length=1)
    service: ServiceName
    command: list[str] | None = None
    kind: Literal["run", "up-wait"] = "run"
    timeout: PositiveDuration = 600.0
    retries: int = Field(0, ge=0, le=10)
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


class UpConfig(_Model):
    """How `compose up` runs."""

    stop_first: list[ServiceName] = []
    remove_orphans: bool = True
    wait_timeout: PositiveDuration = 300.0


class RestartRule(_Model):
    """Restart `service` when the hash of `files` (inside the bundle) changes."""

    service: ServiceName
    files: list[str] = Field(min_length=1)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FieldProblem(f"bad URL {value!r}", "use a full URL like http://127.0.0.1:8080/health")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


class HttpCheck(_Model):
    """HTTP readiness: `url` must answer `status` within `attempts` tries."""

    url: HttpUrl
    status: int = Field(200, ge=100, le=599)
    attempts: int = Field(30, ge=1)
    interval: Duration = 2.0
    timeout: PositiveDuration = 5.0


class HealthHook(_Model):
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


class HealthConfig(_Model):
    """Post-up checks: compose health, HTTP readiness, hooks."""

    compose: bool = True
    http: list[HttpCheck] = []
    hooks: list[HealthHook] = []


class StackConfig(_Model):
    """One compose project: its bundle, remote directory, env and deploy steps."""

    project: Annotated[
        str,
        _named(_PROJECT, "project name", "use lowercase letters, digits, _ and -, e.g. shop"),
    ]
    bundle: Path
    remote_dir: str
    compose_files: list[str] = Field(["docker-compose.yml"], min_length=1)
    profiles: list[ServiceName] = []
    env: dict[EnvName, EnvValue] = {}
    required: list[EnvName] = []
    jobs: list[JobConfig] = []
    up: UpConfig = UpConfig()
    restarts: list[RestartRule] = []
    health: HealthConfig = HealthConfig()

    @field_validator("bundle")
    @classmethod
    def _check_bundle(cls, value: Path, info: ValidationInfo) -> Path:
        path = _local_path(value, info)
        if not path.is_dir():
            raise FieldProblem(
                f"bundle directory {path} does not exist",
                "create it or fix the path (relative paths start at the config file's directory)",
            )
        return path

    @field_validator("remote_dir")
    @classmethod
    def _check_remote_dir(cls, value: str) -> str:
        if not _REMOTE_DIR.fullmatch(value) or ".." in value.split("/"):
            raise FieldProblem(
                f"bad remote_dir {value!r}",
                "use an absolute path of letters, digits and ._-@+, e.g. /opt/shop",
            )
        normal = posixpath.normpath(value)
        if normal == "/":
            raise FieldProblem("remote_dir is /", "use a directory of its own, e.g. /opt/shop")
        return normal

    @model_validator(mode="after")
    def _check_bundle_files(self) -> StackConfig:
        for i, name in enumerate(self.compose_files):
            _inside_bundle(self.bundle, name, ("compose_files", i))
        for i, rule in enumerate(self.restarts):
            for j, name in enumerate(rule.files):
                _inside_bundle(self.bundle, name, ("restarts", i, "files", j))
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

    def service_refs(self) -> list[tuple[str, str]]:
        """(field path, service) for every service this stack names, to check against compose."""
        refs = [(f"jobs[{i}].service", job.service) for i, job in enumerate(self.jobs)]
        refs += [(f"up.stop_first[{i}]", s) for i, s in enumerate(self.up.stop_first)]
        refs += [(f"restarts[{i}].service", r.service) for i, r in enumerate(self.restarts)]
        refs += [
            (f"health.hooks[{i}].service", h.service)
            for i, h in enumerate(self.health.hooks)
            if h.service
        ]
        return refs


class ServiceImage(_Model):
    """Per-service pull policy override."""

    pull: Literal["always", "missing", "changed", "never"]


class RegistryConfig(_Model):
    """Registry credentials; the password is read from `password_env` at load time."""

    host: str = Field(min_length=1)
    username: str = Field(min_length=1)
    password_env: EnvName
    _password: SecretStr | None = PrivateAttr(None)

    @property
    def password(self) -> SecretStr | None:
        """The password read from `password_env`."""
        return self._password

    @field_validator("host")
    @classmethod
    def _bare_host(cls, value: str) -> str:
        if "://" in value or "/" in value:
            raise FieldProblem(f"bad registry host {value!r}", "use a bare host like ghcr.io")
        return value

    @model_validator(mode="after")
    def _read_password(self, info: ValidationInfo) -> RegistryConfig:
        self._password = _secret_env(_context(info)[1], self.password_env, "password_env")
        return self


class ImagesConfig(_Model):
    """Pull planning: parallelism, mutable tags, per-service policy, per-deploy images."""

    parallel: int = Field(3, ge=1, le=16)
    moving_tags: list[str] = ["latest"]
    services: dict[ServiceName, ServiceImage] = {}
    per_deploy: list[EnvName] = []
    registries: list[RegistryConfig] = []


class DiskConfig(_Model):
    """Disk gate thresholds and how many releases cleanup keeps."""

    min_free_gb: float = Field(15.0, ge=0)
    max_used_pct: float = Field(70.0, gt=0, le=100)
    keep_releases: int = Field(3, ge=1)


class StepPolicy(_Model):
    """Timeout, retries and retry delay for a step."""

    timeout: PositiveDuration = 600.0
    retries: int = Field(2, ge=0, le=20)
    retry_delay: Duration = 5.0


class StepOverride(_Model):
    """Per-step overrides of `steps.defaults`."""

    timeout: PositiveDuration | None = None
    retries: int | None = Field(None, ge=0, le=20)
    retry_delay: Duration | None = None


class LockStep(StepOverride):
    """The host-side deploy lease: how long to wait for it, and its expiry (renewed every
    expiry/4 while the deploy runs; a dead holder's lease lapses within one expiry)."""

    wait: Duration = 180.0
    expiry: PositiveDuration = 120.0


class StepsConfig(_Model):
    """Step policies: `defaults` for all, overridable per step name."""

    defaults: StepPolicy = StepPolicy()
    connect: StepOverride = StepOverride()
    lock: LockStep = LockStep()
    verify: StepOverride = StepOverride()
    sync: StepOverride = StepOverride()
    env: StepOverride = StepOverride()
    disk: StepOverride = StepOverride()
    pull: StepOverride = StepOverride()
    jobs: StepOverride = StepOverride()
    up: StepOverride = StepOverride()
    restarts: StepOverride = StepOverride()
    health: StepOverride = StepOverride()
    record: StepOverride = StepOverride()
    cleanup: StepOverride = StepOverride()

    def policy(self, step: str) -> StepPolicy:
        """The effective policy of `step` (one of STEP_NAMES)."""
        if step not in STEP_NAMES:
            raise KeyError(step)
        override = getattr(self, step)
        merged = {k: getattr(override, k) for k in StepPolicy.model_fields}
        return self.defaults.model_copy(update={k: v for k, v in merged.items() if v is not None})


class PerDeployImage(NamedTuple):
    """An image given for this deploy: the stack, the env name and the image reference."""

    project: str
    name: str
    ref: str


def _unique_target_names(targets: list[TargetConfig]) -> None:
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
        _unique_target_names(self.targets)
        return self


class DeployConfig(_Model):
    """A whole deploy.yaml."""

    targets: list[TargetConfig] = Field(min_length=1)
    stacks: list[StackConfig] = Field(min_length=1)
    images: ImagesConfig = ImagesConfig()
    disk: DiskConfig = DiskConfig()
    steps: StepsConfig = StepsConfig()

    @model_validator(mode="after")
    def _check(self) -> DeployConfig:
        _unique_target_names(self.targets)
        for i, stack in enumerate(self.stacks):
            for other in self.stacks[:i]:
                if stack.project == other.project:
                    raise FieldProblem(
                        f"project {stack.project!r} is deployed twice",
                        "give each stack its own project name",
                        ("stacks", i, "project"),
                    )
                a, b = stack.remote_dir, other.remote_dir
                if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
                    raise FieldProblem(
                        f"remote_dir {a} overlaps {other.project}'s {b}",
                        "give each stack a separate directory",
                        ("stacks", i, "remote_dir"),
                    )
        env_names = {name for stack in self.stacks for name in stack.env}
        for i, name in enumerate(self.images.per_deploy):
            if name not in env_names:
                raise FieldProblem(
                    f"per_deploy names {name}, which no stack's env sets",
                    "add it to a stack's env (e.g. APP_IMAGE: ${APP_IMAGE}) or remove it",
                    ("images", "per_deploy", i),
                )
        for i, stack in enumerate(self.stacks):
            for name in self.images.per_deploy:
                value = stack.env.get(name)
                if isinstance(value, SecretStr) or (
                    value is not None and (not value or any(c.isspace() for c in value))
                ):
                    raise FieldProblem(
                        f"per-deploy image {name} is empty, has spaces or is a secret",
                        f"pass an image reference: --set {name}=registry/app:tag",
                        ("stacks", i, "env", name),
                    )
        return self

    def per_deploy_images(self) -> list[PerDeployImage]:
        """Every (stack, env name, image) named by images.per_deploy."""
        images = []
        for stack in self.stacks:
            for name in self.images.per_deploy:
                value = stack.env.get(name)
                if isinstance(value, str):
                    images.append(PerDeployImage(stack.project, name, value))
        return images

    def secret_values(self) -> frozenset[str]:
        """Every non-empty secret value in the config, for redacting logs."""
        values = [t.private_key for t in self.targets] + [t.passphrase for t in self.targets]
        values += [r.password for r in self.images.registries]
        values += [v for s in self.stacks for v in s.env.values() if isinstance(v, SecretStr)]
        return frozenset(v.get_secret_value() for v in values if v and v.get_secret_value())
