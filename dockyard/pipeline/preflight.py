"""Preflight: the host has a docker daemon and the compose plugin, and which versions."""

from __future__ import annotations

from dockyard.commands import docker
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.host.facts import DockerProbe
from dockyard.session import HostStack
from dockyard.ssh.errors import CommandFailed


class PreflightFailed(DeployError):
    """The host cannot run the stack: no docker, no daemon, or no compose plugin."""


def preflight(hs: HostStack, deadline: Deadline) -> DockerProbe:
    """Probe docker, the daemon and compose in one command."""
    try:
        out = hs.runner.run(docker.probe(), deadline=deadline, quiet=True).stdout.split()
    except CommandFailed as exc:
        raise PreflightFailed(
            f"{hs.target.name}: docker or the compose plugin is not usable: {exc}. "
            "Install docker and the compose v2 plugin on the host, and check the daemon runs"
        ) from exc
    if len(out) != 3:
        raise PreflightFailed(f"{hs.target.name}: unexpected docker probe output {out!r}")
    return DockerProbe(*out)
