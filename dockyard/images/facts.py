"""What the host's engine has, read for the pull path: images by name, and every layer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import docker.errors

from dockyard.commands.pull import engine_layers
from dockyard.deadline import Deadline
from dockyard.images.layers import EngineLayers
from dockyard.images.plan import LocalImage
from dockyard.runner import Runner

SNAPSHOT_CAP = 60.0


class _InspectApi(Protocol):
    def inspect_image(self, image: str) -> Mapping[str, Any]: ...


class DockerLike(Protocol):
    """What is used of a docker-py DockerClient: `client.api.inspect_image`."""

    @property
    def api(self) -> _InspectApi: ...


def inspect_local_images(client: DockerLike, images: Iterable[str]) -> dict[str, LocalImage | None]:
    """Image -> LocalImage, or None when the engine does not have it; one inspect per image.

    Each call is bounded by the client's own timeout (build the client from the deadline)."""
    found: dict[str, LocalImage | None] = {}
    for image in dict.fromkeys(images):
        try:
            found[image] = LocalImage.from_inspect(client.api.inspect_image(image))
        except docker.errors.NotFound:
            found[image] = None
    return found


def snapshot_layers(runner: Runner, deadline: Deadline) -> EngineLayers:
    """Every image ID and layer diff_id on the engine, in one round trip."""
    out = runner.run(engine_layers(), deadline=deadline, cap=SNAPSHOT_CAP, quiet=True).stdout
    return EngineLayers.parse(out)
