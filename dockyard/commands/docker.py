"""docker CLI builders: the host probe, container/image inspection, networks, disk usage."""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.commands.shell import quote

ROOT_DIR = "docker info --format '{{.DockerRootDir}}'"

PROBE = (
    "command -v docker >/dev/null || { echo 'docker CLI not found on PATH' >&2; exit 3; }; "
    "docker version --format '{{.Server.Version}}' && "
    "docker compose version --short && " + ROOT_DIR
)


def probe() -> str:
    """Print the server version, the compose version and DockerRootDir, one per line."""
    return PROBE


def missing_networks(names: Iterable[str]) -> str:
    """Print the name of each network in `names` that does not exist on the engine."""
    return "; ".join(
        f"docker network inspect {quote(n)} >/dev/null 2>&1 || echo {quote(n)}" for n in names
    )


def disk_usage() -> str:
    """`df -h` of the engine's data root and of /."""
    return f"df -h $({ROOT_DIR}) /"
