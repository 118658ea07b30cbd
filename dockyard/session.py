"""Per-process deploy session: the loaded config, the link pool, and one stack on one host."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from dockyard.commands.compose import ComposeProject
from dockyard.config import (
    ConfigError,
    DeployConfig,
    Problem,
    SecretLookup,
    SecretSourceError,
    StackConfig,
    TargetConfig,
    load_config,
)
from dockyard.config.public import public_values
from dockyard.host.identity import RELEASE_KEY, config_hash, release_key
from dockyard.masking import Masker
from dockyard.runner import LinkRunner, Runner
from dockyard.ssh.link import Link
from dockyard.ssh.pool import default_pool

Log = Callable[[str], None]


@dataclass(frozen=True)
class DeployRequest:
    """What a run deploys: picklable, so Prefect tasks pass it instead of live objects;
    `force` runs every step even when the host already runs the release; `approved_by` is who
    approved the rollout batch (rollout.approve) before this host deployed."""

    config_path: str
    variables: Mapping[str, str] = field(default_factory=dict)
    run_id: str = "local"
    actor: str = "unknown"
    resumes: tuple[str, ...] = ()
    force: bool = False
    approved_by: str = ""


@dataclass(frozen=True)
class Loaded:
    """A loaded config with what every step derives from it once."""

    config: DeployConfig
    release: str
    masker: Masker

    @cached_property
    def _targets(self) -> dict[str, TargetConfig]:
        return {t.name: t for t in self.config.targets}

    @cached_property
    def _stacks(self) -> dict[str, StackConfig]:
        return {s.project: s for s in self.config.stacks}

    def host_stack(self, host: str, project: str, log: Log = print) -> HostStack:
        """The HostStack of target `host` and stack `project` (a dict lookup each)."""
        return HostStack(self, self._targets[host], self._stacks[project], log)


_loaded: dict[tuple[str, tuple[tuple[str, str], ...]], Loaded] = {}
_lock = threading.Lock()
_secret_lookup: SecretLookup | None = None


def set_secret_lookup(lookup: SecretLookup | None) -> None:
    """Register the second source `load` asks for a `${secret:NAME}` the environment lacks
    (tasks.secrets.PrefectSecrets() on Prefect workers); None removes it."""
    global _secret_lookup
    with _lock:
        _secret_lookup = lookup


def load(request: DeployRequest) -> Loaded:
    """The config for `request`, loaded once per process (secrets come from this environment)."""
    key = (str(Path(request.config_path).resolve()), tuple(sorted(request.variables.items())))
    with _lock:
        if key not in _loaded:
            config = load_config(
                request.config_path, dict(request.variables), secret_lookup=_secret_lookup
            )
            release = _release_id(request.config_path, config, _secret_lookup)
            masker = Masker(config.secret_values(), public_values(config))
            _loaded[key] = Loaded(config, release, masker)
        return _loaded[key]


def _release_id(path: str, config: DeployConfig, lookup: SecretLookup | None) -> str:
    """The release id; a release key that cannot be read is a config problem naming it."""
    try:
        return "r-" + config_hash(config, lambda: release_key(config, lookup))[:16]
    except SecretSourceError as exc:
        raise ConfigError(path, [Problem((RELEASE_KEY,), exc.message, exc.fix)]) from None


def link_for(target: TargetConfig) -> Link:
    """The pooled link of `target` (connected lazily, rebuilt when found dead)."""
    default_pool.register(target.link_settings())
    return default_pool.get(target.name)


@dataclass
class HostStack:
    """One stack on one host: what a deploy step needs to act."""

    loaded: Loaded
    target: TargetConfig
    stack: StackConfig
    log: Log = print
    runs_on: Runner | None = None  # the host's Runner; None: the target's SSH link

    @property
    def config(self) -> DeployConfig:
        return self.loaded.config

    @property
    def link(self) -> Link:
        return link_for(self.target)

    @property
    def project(self) -> ComposeProject:
        return ComposeProject(
            self.stack.project,
            self.stack.remote_dir,
            tuple(self.stack.compose_files),
            tuple(self.stack.profiles),
        )

    def mask(self, text: str) -> str:
        return self.loaded.masker(text)

    @property
    def runner(self) -> Runner:
        """Runs commands on the host within a step's deadline, output masked to the log."""
        return self.runs_on or LinkRunner(self.link, self.log, self.loaded.masker)


def host_stack(request: DeployRequest, host: str, project: str, log: Log = print) -> HostStack:
    """The HostStack for a target name and stack project of the request's config."""
    return load(request).host_stack(host, project, log)
