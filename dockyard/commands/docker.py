"""docker CLI builders: the host probe, container/image inspection, networks, disk usage."""

from __future__ import annotations

ROOT_DIR = "docker info --format '{{.DockerRootDir}}'"

PROBE = (
    "command -v docker >/dev/null || { echo 'docker CLI not found on PATH' >&2; exit 3; }; "
    "docker version --format '{{.Server.Version}}' && "
    "docker compose version --short && " + ROOT_DIR
)


def probe() -> str:
    """Print the server version, the compose version and DockerRootDir, one per line."""
    return PROBE


def network_names() -> str:
    """The name of every network on the engine, one per line."""
    return "docker network ls --format '{{.Name}}'"


def disk_usage() -> str:
    """`df -h` of the engine's data root and of /."""
    return f"df -h $({ROOT_DIR}) /"
