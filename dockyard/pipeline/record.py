"""Release records and rollback: what runs now, by digest; back to the last good release."""

from __future__ import annotations

import json
import time

from dockyard import releases
from dockyard.commands import docker
from dockyard.commands.compose import image_override
from dockyard.deadline import Deadline
from dockyard.health import parse_ps
from dockyard.pipeline import locking
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
            found = repo_digests.get(image_id) or [image_id]
            images[service] = found[0]
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
        variables={
            p.name: p.ref for p in hs.config.per_deploy_images() if p.project == hs.stack.project
        },
    )
    releases.append(hs.link, hs.project.state.root, release, timeout=deadline.left())
    if result == "succeeded":
        locking.close_attempt(hs, result, deadline.left())
    return release


def rollback(hs: HostStack, to: Release, timeout: float) -> None:
    """Point every service at the images of release `to` (by digest) and `up` again; close the
    failed release's attempt so that a rerun of it redoes its steps."""
    locking.close_attempt(hs, "rolled_back", timeout)
    hs.link.write_file(hs.project.state.override, image_override(to.images).encode(), 0o644)
    wait = hs.stack.up.wait_timeout
    argv = hs.project.up(
        wait_timeout=wait, remove_orphans=False, extra_files=(hs.project.state.override,)
    )
    hs.run(argv, timeout=min(timeout, wait + 60))
