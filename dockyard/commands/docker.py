"""docker CLI builders: the engine's data root, networks, disk usage."""

from __future__ import annotations

ROOT_DIR = "docker info --format '{{.DockerRootDir}}'"


def network_names() -> str:
    """The name of every network on the engine, one per line."""
    return "docker network ls --format '{{.Name}}'"


def disk_usage() -> str:
    """`df -h` of the engine's data root and of /."""
    return f"df -h $({ROOT_DIR}) /"
