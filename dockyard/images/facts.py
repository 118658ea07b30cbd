"""Gather the pull plan's inputs from a docker-py client and a registry client (bounded calls)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import docker.errors

from dockyard.images.plan import LocalImage, PlanPolicy, PullPlan, plan_pulls
from dockyard.images.registry import RegistryClient


class _InspectApi(Protocol):
    def inspect_image(self, image: str) -> Mapping[str, Any]: ...


class DockerLike(Protocol):
    """What is used of a docker-py DockerClient: `client.api.inspect_image`."""

    @property
    def api(self) -> _InspectApi: ...


def inspect_local_images(client: DockerLike, images: Iterable[str]) -> dict[str, LocalImage | None]:
    """Image -> LocalImage, or None when the engine does not have it; one inspect per image.

    Each call is bounded by the client's own timeout (set it when building the client).
    """
    found: dict[str, LocalImage | None] = {}
    for image in dict.fromkeys(images):
        try:
            found[image] = LocalImage.from_inspect(client.api.inspect_image(image))
        except docker.errors.NotFound:
            found[image] = None
    return found


def plan_for_host(
    client: DockerLike,
    registry: RegistryClient,
    services: Mapping[str, str],
    policy: PlanPolicy | None = None,
) -> PullPlan:
    """The pull plan for one host: its local images, the registry's digests where needed."""
    local = inspect_local_images(client, services.values())
    return plan_pulls(services, local, registry.manifest_digest, policy)
