"""Resolve the stack as compose sees it on the host, before anything on the host changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dockyard.commands.compose import NETWORKS_MARK
from dockyard.compose import oneshot, startfirst
from dockyard.compose.oneshot import EVERY_SERVICE, UpServices
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.images.plan import runs_with
from dockyard.pipeline.bundle import link_outside, stage
from dockyard.runner import Runner
from dockyard.session import HostStack
from dockyard.ssh.errors import CommandFailed


class StackInvalid(DeployError):
    """compose rejected the stack, or it names services or networks that do not exist."""


@dataclass(frozen=True)
class ResolvedStack:
    """The resolved compose config (all profiles), the services this deploy starts, which of
    them are one-shot, how `up` starts them, and the data dirs the release dir links to
    remote_dir (bundle.link_outside)."""

    config: dict[str, Any]
    active: tuple[str, ...]
    job_services: tuple[str, ...]
    one_shot: tuple[str, ...] = ()
    up: UpServices = EVERY_SERVICE
    linked: tuple[str, ...] = ()
    start_first: tuple[startfirst.ReplaceSpec, ...] = ()


def resolve_stack(hs: HostStack, runner: Runner, deadline: Deadline) -> ResolvedStack:
    """Stage the release, resolve it in the release's files dir with `compose config --format
    json` (cached on the host per release and compose build) and list the engine's networks in
    one command; check services and external networks."""
    project = stage(hs, runner, deadline)
    cache_dir = hs.project.state.release_dir(hs.loaded.release)
    try:
        out = runner.run(project.resolve_cached(cache_dir, profiles=["*"]), deadline=deadline,
                         quiet=True)  # fmt: skip
    except CommandFailed as exc:
        raise StackInvalid(
            f"{hs.target.name}/{hs.stack.project}: docker compose rejected the stack: "
            f"{hs.mask(exc.stderr_tail)}"
        ) from exc
    text, _, networks = out.stdout.rpartition(f"\n{NETWORKS_MARK}\n")
    config = json.loads(text)
    services = config.get("services", {})
    active = tuple(name for name, svc in services.items() if runs_with(svc, hs.stack.profiles))
    jobs = tuple(job.service for job in hs.stack.jobs)
    unknown = [(f, s) for f, s in hs.stack.service_refs() if s not in services]
    if unknown:
        named = ", ".join(f"stacks[{hs.stack.project}].{f} = {s}" for f, s in unknown)
        raise StackInvalid(
            f"{named}: no such service in {', '.join(hs.stack.compose_files)}; "
            f"services are: {', '.join(sorted(services))}"
        )
    linked = link_outside(hs, runner, deadline, config)
    if linked:
        hs.log(f"release dir: {', '.join(linked)} linked to {hs.stack.remote_dir} (data, not "
               "bundle files)")  # fmt: skip
    missing = _missing_external_networks(config, set(networks.split()))
    if missing:
        raise StackInvalid(
            f"{hs.target.name}: external network(s) {', '.join(missing)} do not exist; "
            f"create them on the host first (docker network create {missing[0]})"
        )
    if unsafe := startfirst.unsafe(
        services, hs.stack.up.start_first, startfirst.job_like(hs.stack), hs.stack.up.http_check
    ):
        raise StackInvalid(f"{hs.target.name}/{hs.stack.project}: up.start_first: "
                           + "; ".join(map(str, unsafe)))  # fmt: skip
    one_shot = oneshot.one_shot_services(config, hs.stack.one_shot, hs.stack.jobs)
    starts = oneshot.up_services(active, one_shot, oneshot.job_services(hs.stack.jobs),
                                 oneshot.completion_targets(config))  # fmt: skip
    replace = startfirst.specs(services, hs.stack.up.start_first, active)
    return ResolvedStack(config, active, jobs, one_shot, starts, tuple(linked), replace)


def _missing_external_networks(config: dict[str, Any], networks: set[str]) -> list[str]:
    """The external networks the config names that are not among the engine's `networks`."""
    return [
        net.get("name", key)
        for key, net in (config.get("networks") or {}).items()
        if net.get("external") and net.get("name", key) not in networks
    ]
