"""Disk command builders: df of the data root, listing images and containers, removing one.

Removal is never forced and never touches volumes: `docker container rm` without -f or -v
refuses a running container, and `docker image rm` without -f refuses an image a container
uses, so a container created while a prune runs keeps its image."""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.commands.shell import quote

# One JSON object per line, only the fields the prune reads (inspect's full JSON is large).
IMAGE_FORMAT = (
    '{"Id":{{json .Id}},"RepoTags":{{json .RepoTags}},"RepoDigests":{{json .RepoDigests}},'
    '"Parent":{{json .Parent}},"Size":{{json .Size}}}'
)
CONTAINER_FORMAT = (
    '{"Id":{{json .Id}},"Name":{{json .Name}},"Image":{{json .Image}},'
    '"Status":{{json .State.Status}},"Labels":{{json .Config.Labels}}}'
)
SIZED_CONTAINER_FORMAT = CONTAINER_FORMAT.removesuffix("}") + ',"SizeRw":{{json .SizeRw}}}'
"""Only with --size: inspect has no SizeRw without it."""


def df(path: str) -> list[str]:
    """Free bytes, total bytes and used % of the filesystem holding `path` (a header, one row)."""
    return ["df", "-B1", "--output=avail,size,pcent", path]


def image_ids() -> list[str]:
    """The full ID of every image, intermediate ones included (their parents matter)."""
    return ["docker", "image", "ls", "--all", "--quiet", "--no-trunc"]


def inspect_images(ids: Iterable[str]) -> list[str]:
    """One JSON line (IMAGE_FORMAT) per image."""
    return ["docker", "image", "inspect", "--format", IMAGE_FORMAT, *ids]


def container_ids() -> list[str]:
    """The full ID of every container, running or not."""
    return ["docker", "container", "ls", "--all", "--quiet", "--no-trunc"]


def inspect_containers(ids: Iterable[str], *, sizes: bool = False) -> list[str]:
    """One JSON line (CONTAINER_FORMAT) per container; with `sizes`, its writable layer's size."""
    if sizes:
        return ["docker", "container", "inspect", "--size", "--format", SIZED_CONTAINER_FORMAT,
                *ids]  # fmt: skip
    return ["docker", "container", "inspect", "--format", CONTAINER_FORMAT, *ids]


INSPECT_STATUS = "--inspect-status--"
"""The line that ends each section of inventory()'s output, with its inspects' exit status."""


def inventory(*, sizes: bool = False) -> str:
    """Every image (IMAGE_FORMAT lines), then every container (CONTAINER_FORMAT, or with
    `sizes` SIZED_CONTAINER_FORMAT), each section ended by `INSPECT_STATUS <status>`: one
    command. A listing that fails fails the script; xargs keeps each inspect's line bounded."""
    sections = [
        (" ".join(image_ids()), " ".join(map(quote, inspect_images([])))),
        (" ".join(container_ids()), " ".join(map(quote, inspect_containers([], sizes=sizes)))),
    ]
    return "; ".join(
        f'ids=$({listing}) || exit $?; s=0; [ -z "$ids" ] || printf "%s\\n" $ids | sort -u '
        f'| xargs {inspect} || s=$?; echo "{INSPECT_STATUS} $s"'
        for listing, inspect in sections
    )


def remove_container(container_id: str) -> list[str]:
    """Remove one stopped container (never -f, never its volumes)."""
    return ["docker", "container", "rm", container_id]


def remove_image(refs: Iterable[str]) -> list[str]:
    """Remove an image by ID or by each of its references (never -f); --no-prune leaves
    untagged parents for the prune to weigh on their own."""
    return ["docker", "image", "rm", "--no-prune", *refs]


def system_df() -> list[str]:
    """Engine usage per kind (images, containers, volumes, build cache), one JSON line each."""
    return ["docker", "system", "df", "--format", "{{json .}}"]
