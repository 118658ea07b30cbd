"""Release records and rollback: what runs now, by digest; back to the last good release."""

from __future__ import annotations

import time
from collections.abc import Mapping

from dockyard import releases
from dockyard.commands.compose import image_override
from dockyard.config import UNSET_PER_DEPLOY
from dockyard.deadline import Deadline
from dockyard.hostfacts import HostFacts
from dockyard.pipeline import locking, switch
from dockyard.pipeline.facts import read_facts
from dockyard.releases import Release
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
    refs: Mapping[str, str] | None = None,
) -> Release:  # fmt: skip
    """Append this deploy's release record on the host: what runs by digest and config hash,
    and `refs` (the plan's service -> image) when a deploy, not a rollback, wrote it."""
    facts = read_facts(hs, deadline)
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
    )
    releases.append(hs.link, hs.project.state.root, release, timeout=deadline.left())
    if result == "succeeded":
        locking.close_attempt(hs, result, deadline.left())
    return release


def rollback(hs: HostStack, to: Release, deadline: Deadline) -> list[str]:
    """Return the stack to release `to`: its files, .env and service set (services it did not
    have are stopped and removed) and its images by digest; close the failed release's
    attempt so that a rerun of it redoes its steps. Returns notes for the report."""
    locking.close_attempt(hs, "rolled_back", deadline.left())
    runner = hs.runner
    notes = []
    try:
        changed = switch.switch(hs, runner, deadline, to.id)
        notes.append(f"restored release {to.id}'s files and .env ({len(changed)} change(s))")
    except switch.ReleaseNotStaged as exc:
        notes.append(f"{exc}: rolled back images only")
    runner.write_file(hs.project.state.override, image_override(to.images).encode(),
                      mode=0o644, deadline=deadline)  # fmt: skip
    wait = max(1.0, min(hs.stack.up.wait_timeout, deadline.left() - 5))
    argv = hs.project.up(
        wait_timeout=wait, remove_orphans=True, extra_files=(hs.project.state.override,)
    )
    runner.run(argv, deadline=deadline)
    return notes
