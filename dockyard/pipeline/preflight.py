"""Preflight: read the host's facts (one round trip); the host must run docker, its daemon and the
compose plugin."""

from __future__ import annotations

from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.host.facts import HostFacts, facts_for
from dockyard.session import HostStack
from dockyard.ssh.errors import CommandFailed

_FIX = "Install docker and the compose v2 plugin on the host, and check the daemon runs"


class PreflightFailed(DeployError):
    """The host cannot run the stack: no docker, no daemon, or no compose plugin."""


def preflight(hs: HostStack, deadline: Deadline) -> HostFacts:
    """The stack's host facts (those the CLI's convergence check just read in this process, or
    read now), once docker, the daemon and compose answered in them."""
    try:
        facts = facts_for(hs, deadline)
    except CommandFailed as exc:
        raise PreflightFailed(f"{hs.target.name}: docker or the compose plugin is not usable: "
                              f"{exc}. {_FIX}") from exc  # fmt: skip
    silent = [
        what
        for what, answer in (
            ("the docker daemon (docker version)", facts.docker_version),
            ("the compose plugin (docker compose version)", facts.compose_version),
            ("DockerRootDir (docker info)", facts.root_dir),
        )
        if not answer
    ]
    if silent:
        raise PreflightFailed(f"{hs.target.name}: docker or the compose plugin is not usable: "
                              f"no answer from {', '.join(silent)}. {_FIX}")  # fmt: skip
    return facts
