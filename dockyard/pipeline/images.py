"""The image steps of a deploy: plan (reads only), verify in the registry, pull one image.

Each takes the step's Deadline: registry HTTP, docker API and SSH commands use the time left,
and running past it raises StepTimeout naming the step."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.commands.pull import detached_pull
from dockyard.deadline import Deadline
from dockyard.images.errors import ImageMissing, ManifestUnknown, RegistryAuthError, RegistryError
from dockyard.images.facts import inspect_local_images, snapshot_layers
from dockyard.images.layers import LEDGER, EngineLayers, Platform, new_blobs
from dockyard.images.plan import (
    ImageDecision,
    PlanPolicy,
    PullPlan,
    plan_pulls,
    services_from_compose_json,
)
from dockyard.images.pull import Progress, PullResult, engine_pull
from dockyard.images.ref import ImageRef
from dockyard.images.registry import RegistryClient
from dockyard.images.resolve import ResolvedStack, resolve_stack
from dockyard.session import HostStack
from dockyard.ssh.docker_client import docker_client

API_CAP = 120.0
DETACH_CAP = 30.0


@dataclass(frozen=True)
class StackPlan:
    """The resolved stack and its pull plan."""

    resolved: ResolvedStack
    plan: PullPlan


def plan_stack(hs: HostStack, deadline: Deadline) -> StackPlan:
    """Resolve the stack on the host and decide per image (reads only; changes nothing)."""
    resolved = resolve_stack(hs, hs.runner, deadline)
    services = services_from_compose_json(resolved.config, hs.stack.profiles, resolved.job_services)
    policy = PlanPolicy.from_config(hs.config, hs.stack.project)
    client = docker_client(hs.link, timeout=deadline.left(API_CAP))
    try:
        with _registry(hs, deadline) as registry:
            local = inspect_local_images(client, services.values())
            plan = plan_pulls(services, local, registry.manifest_digest, policy)
    except (ManifestUnknown, RegistryAuthError) as exc:
        raise ImageMissing(f"{exc}. Nothing was changed on the host; push the image or fix "
                           "its name") from exc  # fmt: skip
    finally:
        client.close()
    return StackPlan(resolved, plan)


def verify_in_registry(hs: HostStack, plan: PullPlan, deadline: Deadline) -> list[str]:
    """Confirm every per-deploy or to-be-pulled image exists in its registry."""
    checked = []
    with _registry(hs, deadline) as registry:
        for decision in plan.to_verify():
            try:
                registry.manifest_digest(ImageRef.parse(decision.pull_ref))
            except (ManifestUnknown, RegistryAuthError) as exc:
                raise ImageMissing(
                    f"{decision.image} (service {decision.service}) cannot be pulled: {exc}. "
                    "Nothing was changed on the host; push the image or fix its name"
                ) from exc
            checked.append(decision.image)
    return checked


def pull_on_host(
    hs: HostStack, decision: ImageDecision, deadline: Deadline, on_progress: Progress | None = None
) -> PullResult:
    """Pull one image on the host's engine (by digest when planned so), tag it if needed, and
    count the bytes the engine fetched for it.

    The pull first starts detached on the host (own session, bounded by the deadline), and the
    API pull joins it for progress: a dropped link or a killed deployer loses nothing, the retry
    joins the pull still running or finds the image there. Registries with a login are pulled
    through the API only (the host's CLI has no login); `credentials_for` picks the login for
    both this pull and the registry's digest checks."""
    started = time.monotonic()
    ref = ImageRef.parse(decision.pull_ref)
    runner = hs.runner
    before = LEDGER.before(hs.target.name, ref.pull_ref, lambda: snapshot_layers(runner, deadline))
    with _registry(hs, deadline) as registry:
        if registry.logins.credentials_for(ref) is None:
            runner.run(detached_pull(ref.pull_ref, deadline.left()), deadline=deadline,
                       cap=DETACH_CAP)  # fmt: skip
        client = docker_client(hs.link, timeout=deadline.left(API_CAP))
        try:
            streamed = engine_pull(
                client, ref, deadline=deadline, logins=registry.logins, on_progress=on_progress
            )
            attrs = client.api.inspect_image(ref.pull_ref)
            if decision.tag_as:
                target = ImageRef.parse(decision.tag_as)
                client.api.tag(decision.pull_ref, target.name, target.tag)
        finally:
            client.close()
        fetched = _fetched(hs, registry, ref, attrs, before)
    counted = LEDGER.settle(hs.target.name, ref.pull_ref, fetched or {})
    layers = len(attrs["RootFS"]["Layers"])
    new_layers = len([blob for blob in fetched or {} if blob != attrs["Id"]])
    return PullResult(
        ref.familiar,
        streamed if fetched is None else sum(counted.values()),
        new_layers,
        layers - new_layers,
        round(time.monotonic() - started, 3),
    )


def _fetched(
    hs: HostStack,
    registry: RegistryClient,
    ref: ImageRef,
    attrs: Mapping[str, Any],
    before: EngineLayers,
) -> dict[str, int] | None:
    """Blob -> size the engine fetched for this image, or None (logged) when the registry's
    manifest cannot tell; an image the engine had already fetched nothing."""
    if attrs["Id"] in before.image_ids:
        return {}
    try:
        manifest = registry.image_manifest(ref, Platform.from_inspect(attrs))
        return new_blobs(manifest, attrs["Id"], attrs["RootFS"]["Layers"], before)
    except RegistryError as exc:
        hs.log(f"bytes of {ref.familiar} counted from the pull's progress only: {exc}")
        return None


def _registry(hs: HostStack, deadline: Deadline) -> RegistryClient:
    return RegistryClient.from_config(hs.config.images.registries, deadline=deadline)
