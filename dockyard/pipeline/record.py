"""Release records and rollback: what runs now, by digest; back to the last good release."""

from __future__ import annotations

import json
import time

from dockyard import releases
from dockyard.commands import docker
from dockyard.commands.compose import image_override
from dockyard.deadline import Deadline
from dockyard.health import parse_ps
from dockyard.pipeline import locking, switch
from dockyard.releases import Release
from dockyard.session import HostStack


def running_images(hs: HostStack, deadline: Deadline) -> dict[str, str]:
    """service -> `name@sha256:…` of the image each running container uses."""
    run = hs.runner.run
    states = parse_ps(run(hs.project.ps_json(), deadline=deadline, quiet=True).stdout)
    ids = {s.service: s.id for s in states if s.state == "running"}
    if not ids:
        return {}
    out = run(docker.container_images(ids.values()), deadline=deadline, quiet=True).stdout
    image_ids = dict(line.split() for line in out.split("\n") if line)
    argv = docker.image_repo_digests(sorted(set(image_ids.values())))
    repo_digests: dict[str, list[str]] = {}
    for line in run(argv, deadline=deadline, quiet=True).stdout.splitlines():
        image_id, _, digests = line.partition(" ")
        repo_digests[image_id] = json.loads(digests or "[]")
    by_container = {f"/{s.name}": s.service for s in states}
    images = {}
    for name, image_id in image_ids.items():
        service = by_container.get(name)
        if service:
            known = repo_digests.get(image_id) or [image_id]
            images[service] = known[0]
    return dict(sorted(images.items()))


def record(
    hs: HostStack, release_id: str, run_id: str, actor: str, result: str, deadline: Deadline
) -> Release:
    """Append this deploy's release record on the host."""
    release = Release(
        id=release_id,
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        actor=actor,
        run_id=run_id,
        result=result,
        config_hash=hs.loaded.release,
        images=running_images(hs, deadline),
        variables={p.name: p.ref for p in hs.config.per_deploy_images(hs.stack.project)},
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
