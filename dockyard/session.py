"""Per-process deploy session: the loaded config, the link pool, and one stack on one host."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dockyard.commands.compose import ComposeProject
from dockyard.config import DeployConfig, SecretLookup, StackConfig, TargetConfig, load_config
from dockyard.config.public import public_values
from dockyard.masking import Masker
from dockyard.release_identity import config_hash
from dockyard.runner import LinkRunner
from dockyard.ssh.link import Link
from dockyard.ssh.pool import default_pool
from dockyard.ssh.settings import LinkSettings

Log = Callable[[str], None]


@dataclass(frozen=True)
class DeployRequest:
    """What a run deploys: picklable, so Prefect tasks pass it instead of live objects;
    `force` runs every step even when the host already runs the release."""

    config_path: str
    variables: Mapping[str, str] = field(default_factory=dict)
    run_id: str = "local"
    actor: str = "unknown"
    resumes: tuple[str, ...] = ()
    force: bool = False


@dataclass(frozen=True)
class Loaded:
    """A loaded config with what every step derives from it once."""

    config: DeployConfig
    release: str
    masker: Masker


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
            masker = Masker(config.secret_values(), public_values(config))
            _loaded[key] = Loaded(config, "r-" + config_hash(config)[:16], masker)
        return _loaded[key]


def link_for(target: TargetConfig) -> Link:
    """The pooled link of `target` (connected lazily, rebuilt when found dead)."""
    default_pool.register(LinkSettings.from_target(target))
    return default_pool.get(target.name)


@dataclass
class HostStack:
    """One stack on one host: what a deploy step needs to act."""

    loaded: Loaded
    target: TargetConfig
    stack: StackConfig
    log: Log = print

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
    def runner(self) -> LinkRunner:
        """Runs commands on the host within a step's deadline, output masked to the log."""
        return LinkRunner(self.link, self.log, self.loaded.masker)


def host_stack(request: DeployRequest, host: str, project: str, log: Log = print) -> HostStack:
    """The HostStack for a target name and stack project of the request's config."""
    loaded = load(request)
    target = next(t for t in loaded.config.targets if t.name == host)
    stack = next(s for s in loaded.config.stacks if s.project == project)
    return HostStack(loaded, target, stack, log)
