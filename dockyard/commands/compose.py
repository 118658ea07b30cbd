"""Compose command builders: what to run on a host for one stack (the link decides where)."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import yaml

from dockyard.commands.docker import network_names
from dockyard.commands.hoststate import HostState
from dockyard.commands.shell import quote

ENV_FILE = ".env"
NETWORKS_MARK = "--networks--"
CLI_PLUGINS = (
    '"${DOCKER_CONFIG:-$HOME/.docker}"/cli-plugins',
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)
"""Where the docker CLI finds its compose plugin (the cache key of a resolved config)."""


@dataclass(frozen=True)
class ComposeProject:
    """One compose project on a host: name, directory, files and active profiles.

    `directory` (absolute) is the project directory compose resolves the files, the .env,
    env_file, relative bind mounts and build contexts against; it defaults to `remote_dir`. A
    staged release is resolved, and its jobs run, with the release's own files dir there."""

    project: str
    remote_dir: str
    files: tuple[str, ...] = ("docker-compose.yml",)
    profiles: tuple[str, ...] = ()
    directory: str | None = None

    @property
    def project_dir(self) -> str:
        """Where compose runs: `directory`, else the stack's remote directory."""
        return self.directory or self.remote_dir

    def path(self, name: str) -> str:
        """An absolute path under the project directory."""
        return posixpath.join(self.project_dir, name)

    @property
    def state(self) -> HostState:
        """Where dockyard keeps its own files for this stack (lock, journal, releases)."""
        return HostState(self.remote_dir)

    def base(
        self, extra_files: Iterable[str] = (), profiles: Iterable[str] | None = None
    ) -> list[str]:
        """`docker compose` with project, directory, files and profiles (compose reads the
        directory's .env itself, and runs without one before the first deploy)."""
        argv = ["docker", "compose", "--project-name", self.project]
        argv += ["--project-directory", self.project_dir]
        for name in (*self.files, *extra_files):
            argv += ["--file", self.path(name)]
        for profile in self.profiles if profiles is None else profiles:
            argv += ["--profile", profile]
        return argv

    def config_json(self, profiles: Iterable[str] | None = None) -> list[str]:
        """Resolve the stack (env file and profiles applied) to JSON."""
        return [*self.base(profiles=profiles), "config", "--format", "json"]

    def resolve_cached(self, cache_dir: str, profiles: Iterable[str] | None = None) -> str:
        """Print config_json's output from a cache file in `cache_dir`, made (mode 0600: it
        holds the .env's values) by running compose the first time; then NETWORKS_MARK and the
        engine's network names, one per line. `cache_dir` must be keyed by everything the
        config is made of (a release's dir: its id hashes the bundle and .env); the file name
        adds the path, size and mtime of the docker CLI and compose plugin, so an upgraded
        compose resolves afresh. A compose failure exits with its status, caching nothing."""
        plugins = " ".join(f"{d}/docker-compose" for d in CLI_PLUGINS)
        key = f'stat -L -c "%n %s %Y" "$(command -v docker)" {plugins} 2>/dev/null | cksum'
        cache = f'{quote(cache_dir)}/config."$(echo $k | tr " " -)".json'
        config = shlex.join(self.config_json(profiles))
        return (
            f"k=$({key}); c={cache}; "
            f'if [ ! -s "$c" ]; then (umask 077; {config} > "$c.tmp.$$") '
            f'|| {{ s=$?; rm -f "$c.tmp.$$"; exit $s; }}; mv -f -- "$c.tmp.$$" "$c"; fi; '
            f'cat "$c" && echo && echo {NETWORKS_MARK} && {network_names()}'
        )

    def up(
        self,
        *,
        wait_timeout: float | None,
        remove_orphans: bool = True,
        services: Iterable[str] = (),
        extra_files: Iterable[str] = (),
        no_recreate: bool = False,
        no_deps: bool = False,
    ) -> list[str]:
        """Start the stack (or `services`) without pulling (dockyard pulls); with a
        `wait_timeout`, wait for them to run healthy (compose --wait)."""
        argv = [*self.base(extra_files), "up", "--detach", "--pull", "never"]
        if wait_timeout is not None:
            argv += ["--wait", "--wait-timeout", str(int(wait_timeout))]
        if remove_orphans:
            argv.append("--remove-orphans")
        if no_recreate:
            argv.append("--no-recreate")
        if no_deps:
            argv.append("--no-deps")
        return [*argv, *services]

    def run_job(
        self, service: str, command: Iterable[str] = (), no_deps: bool = False
    ) -> list[str]:
        """A one-off container of `service`, removed afterwards (`no_deps`: its dependencies
        are left as they are)."""
        argv = [*self.base(), "run", "--rm", "--pull", "never", "--no-TTY"]
        return [*argv, *(["--no-deps"] if no_deps else []), service, *command]

    def up_wait(self, service: str, wait_timeout: float, no_recreate: bool = False) -> list[str]:
        """Start one service (and its dependencies) and wait for it to be healthy
        (`no_recreate`: containers that exist are kept as they are)."""
        return self.up(wait_timeout=wait_timeout, remove_orphans=False, services=[service],
                       no_recreate=no_recreate)  # fmt: skip

    def stop(self, services: Iterable[str], timeout: int = 10) -> list[str]:
        return [*self.base(), "stop", "--timeout", str(timeout), *services]

    def restart(self, services: Iterable[str], timeout: int = 10) -> list[str]:
        return [*self.base(), "restart", "--timeout", str(timeout), *services]

    def exec(self, service: str, command: Iterable[str]) -> list[str]:
        """Run a command in the running container of `service` (no TTY)."""
        return [*self.base(), "exec", "-T", service, *command]

    def ps_json(self) -> list[str]:
        """Every container of the project, running or not, as JSON lines."""
        return [*self.base(), "ps", "--all", "--format", "json"]

    def logs(self, services: Iterable[str], tail: int = 50) -> list[str]:
        return [*self.base(), "logs", "--no-color", "--tail", str(tail), *services]


def image_override(images: Mapping[str, str]) -> str:
    """A compose override file pinning services to images (a rollback pins by digest)."""
    doc = {"services": {service: {"image": image} for service, image in sorted(images.items())}}
    return yaml.safe_dump(doc, default_flow_style=False, sort_keys=True)
