"""Image steps: plan from data, verify in the registry before any change, pull one image."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from dockyard.errors import ImageMissing
from dockyard.images.facts import plan_for_host
from dockyard.images.plan import ImageDecision, PlanPolicy, PullPlan, services_from_compose_json
from dockyard.images.pull import Progress, PullResult, pull
from dockyard.images.ref import ImageRef
from dockyard.images.registry import ManifestUnknown, RegistryAuthError, RegistryClient
from dockyard.images.resolve import ResolvedStack, resolve
from dockyard.session import HostStack
from dockyard.ssh.docker_client import docker_client

DETACHED_PULL = "setsid -f timeout {seconds} docker pull --quiet {ref} >/dev/null 2>&1 </dev/null"


@dataclass(frozen=True)
class StackPlan:
    """The resolved stack and its pull plan."""

    resolved: ResolvedStack
    plan: PullPlan


def registry_client(hs: HostStack, timeout: float = 30) -> RegistryClient:
    return RegistryClient.from_config(hs.config.images.registries, timeout=timeout)


def make_plan(hs: HostStack, timeout: float) -> StackPlan:
    """Resolve the stack on the host and decide per image (reads only; changes nothing)."""
    resolved = resolve(hs, timeout)
    services = services_from_compose_json(resolved.config, hs.stack.profiles, resolved.job_services)
    policy = PlanPolicy.from_config(hs.config, hs.stack.project)
    client = docker_client(hs.link, timeout=timeout)
    try:
        with registry_client(hs) as registry:
            plan = plan_for_host(client, registry, services, policy)
    except (ManifestUnknown, RegistryAuthError) as exc:
        raise ImageMissing(f"{exc}. Nothing was changed on the host; push the image or fix "
                           "its name") from exc  # fmt: skip
    finally:
        client.close()
    return StackPlan(resolved, plan)


def verify(hs: HostStack, plan: PullPlan) -> list[str]:
    """Confirm every per-deploy or to-be-pulled image exists in its registry."""
    checked = []
    with registry_client(hs) as registry:
        for decision in plan.to_verify():
            ref = ImageRef.parse(decision.pull_ref)
            try:
                registry.manifest_digest(ref)
            except (ManifestUnknown, RegistryAuthError) as exc:
                raise ImageMissing(
                    f"{decision.image} (service {decision.service}) cannot be pulled: {exc}. "
                    "Nothing was changed on the host; push the image or fix its name"
                ) from exc
            checked.append(decision.image)
    return checked


def pull_image(
    hs: HostStack, decision: ImageDecision, timeout: float, on_progress: Progress | None = None
) -> PullResult:
    """Pull one image on the host's engine (by digest when planned so) and tag it if needed.

    The engine cancels a pull when its client goes away and drops the layers it had; so the
    pull first starts detached on the host (own session, bounded by `timeout`), and the API
    pull joins it for progress. A dropped link or a killed deployer then loses nothing: the
    retry joins the pull still running, or finds the image there. (Registries that need
    credentials are pulled through the API only: the host's CLI has no login.)"""
    ref = ImageRef.parse(decision.pull_ref)
    auth = None
    for registry in hs.config.images.registries:
        if registry.host == ref.registry and registry.password:
            auth = {"username": registry.username, "password": registry.password.get_secret_value()}
    deadline = time.monotonic() + timeout
    if auth is None:
        hs.link.run(DETACHED_PULL.format(seconds=int(timeout), ref=shlex.quote(ref.pull_ref)),
                    timeout=30)  # fmt: skip
    client = docker_client(hs.link, timeout=min(timeout, 120))
    try:
        result = pull(client, ref, deadline=deadline, auth=auth, on_progress=on_progress)
        if decision.tag_as:
            target = ImageRef.parse(decision.tag_as)
            client.api.tag(decision.pull_ref, target.name, target.tag)
    finally:
        client.close()
    return result
