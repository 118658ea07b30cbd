"""Release records: what runs now on a stack, by digest, appended to the host's release history."""

from __future__ import annotations

import time
from collections.abc import Mapping

from dockyard.config import UNSET_PER_DEPLOY
from dockyard.deadline import Deadline
from dockyard.host import lease, releases
from dockyard.host.facts import HostFacts, read_stack_containers
from dockyard.host.releases import Release
from dockyard.session import HostStack


def running_images(facts: HostFacts) -> dict[str, str]:
    """service -> `name@sha256:…` (else the image id) of the image each running container of
    the stack uses; jobs' `compose run` containers left out."""
    images = {}
    for c in facts.containers:
        if c.state == "running" and not c.one_off and c.service:
            images[c.service] = c.repo_digests[0] if c.repo_digests else c.image_id
    return dict(sorted(images.items()))


def recorded_services(facts: HostFacts) -> dict[str, dict[str, str]]:
    """service -> the image id and compose config hash its container runs with."""
    return {
        c.service: {"id": c.image_id, "config_hash": c.config_hash}
        for c in sorted(facts.containers, key=lambda c: c.name)
        if c.service and not c.one_off
    }


def record(
    hs: HostStack, release_id: str, run_id: str, actor: str, result: str, deadline: Deadline,
    refs: Mapping[str, str] | None = None, one_shot: tuple[str, ...] = (), approved_by: str = "",
) -> Release:  # fmt: skip
    """Append this deploy's release record on the host: what runs by digest and config hash,
    `refs` (the plan's service -> image; a rollback passes its target's), the one-shot
    services and who approved the rollout batch (`approved_by`)."""
    facts = read_stack_containers(hs, deadline)  # what runs now, after `up`
    release = Release(
        id=release_id,
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        actor=actor,
        run_id=run_id,
        result=result,
        config_hash=hs.loaded.release,
        images=running_images(facts),
        variables={
            p.name: p.ref
            for p in hs.config.per_deploy_images(hs.stack.project)
            if p.ref != UNSET_PER_DEPLOY
        },  # not the placeholders of a rollback (it is given no per-deploy values)
        refs=dict(sorted((refs or {}).items())),
        services=recorded_services(facts),
        one_shot=sorted(one_shot),
        approved_by=approved_by,
    )
    releases.append(hs.runner, hs.project.state, release, deadline)
    if result == "succeeded":
        lease.close_attempt(hs, result, deadline)
    return release
