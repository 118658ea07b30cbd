"""docker CLI builders: the engine's data root, networks, disk usage, a tag."""

from __future__ import annotations

ROOT_DIR = "docker info --format '{{.DockerRootDir}}'"


def network_names() -> str:
    """The name of every network on the engine, one per line."""
    return "docker network ls --format '{{.Name}}'"


def disk_usage() -> str:
    """`df -h` of the engine's data root and of /."""
    return f"df -h $({ROOT_DIR}) /"


def tag(image_id: str, ref: str) -> list[str]:
    """Point the local tag `ref` at the image `image_id` (an argv: nothing is interpolated)."""
    return ["docker", "tag", image_id, ref]
