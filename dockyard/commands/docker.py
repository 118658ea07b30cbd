"""docker CLI builders: the host probe, container/image inspection, networks, disk usage."""

from __future__ import annotations

from collections.abc import Iterable

ROOT_DIR = "docker info --format '{{.DockerRootDir}}'"

PROBE = (
    "command -v docker >/dev/null || { echo 'docker CLI not found on PATH' >&2; exit 3; }; "
    "docker version --format '{{.Server.Version}}' && "
    "docker compose version --short && " + ROOT_DIR
)


def probe() -> str:
    """Print the server version, the compose version and DockerRootDir, one per line."""
    return PROBE


def container_images(container_ids: Iterable[str]) -> list[str]:
    """`<name> <image id>` of each container."""
    return ["docker", "inspect", "--format", "{{.Name}} {{.Image}}", *container_ids]


def image_repo_digests(image_ids: Iterable[str]) -> list[str]:
    """`<image id> <RepoDigests as JSON>` of each image."""
    return ["docker", "image", "inspect", "--format", "{{.Id}} {{json .RepoDigests}}",
            *image_ids]  # fmt: skip


def network_names() -> str:
    """The name of every network on the engine, one per line."""
    return "docker network ls --format '{{.Name}}'"


def disk_usage() -> str:
    """`df -h` of the engine's data root and of /."""
    return f"df -h $({ROOT_DIR}) /"
