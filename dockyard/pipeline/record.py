"""Release records and rollback: what runs now, by digest; back to the last good release."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from dockyard import releases
from dockyard.commands.compose import image_override
from dockyard.compose.oneshot import EVERY_SERVICE, UpServices
from dockyard.deadline import Deadline
from dockyard.hostfacts import HostFacts
from dockyard.images.plan import LocalImage
from dockyard.images.ref import ImageRef, InvalidImageRef, matches_local
from dockyard.pipeline import locking, switch, up
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
    refs: Mapping[str, str] | None = None, one_shot: tuple[str, ...] = (),
) -> Release:  # fmt: skip
    """Append this deploy's release record on the host: what runs by digest and config hash,
    `refs` (the plan's service -> image; a rollback passes its target's) and the one-shot
    services."""
    facts = read_facts(hs, deadline)
    release = Release(
        id=release_id,
        time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        actor=actor,
        run_id=run_id,
        result=result,
        config_hash=hs.loaded.release,
        images=running_images(facts),
        variables={p.name: p.ref for p in hs.config.per_deploy_images(hs.stack.project)},
        refs=dict(sorted((refs or {}).items())),
        services=recorded_services(facts),
        one_shot=sorted(one_shot),
    )
    releases.append(hs.link, hs.project.state.root, release, timeout=deadline.left())
    if result == "succeeded":
        locking.close_attempt(hs, result, deadline.left())
    return release


def pins(to: Release, images: Iterable[LocalImage]) -> tuple[dict[str, str], list[str]]:
    """service -> image by digest for the services of release `to` whose tag no longer points
    to the image it recorded (only these need an override: the rest run from the restored
    files as they did); and notes on services that cannot be pinned."""
    images = tuple(images)
    pinned, notes = {}, []
    for service, text in sorted(to.refs.items()):
        recorded = (to.services.get(service) or {}).get("id")
        try:
            ref = ImageRef.parse(text)
        except InvalidImageRef:
            continue
        if not recorded or ref.digest is not None:
            continue
        now = next((i for i in images if matches_local(ref, (), i.repo_tags)), None)
        if now is not None and now.id == recorded:
            continue
        was = next((i for i in images if i.id == recorded), None)
        digests = [d for d in (was.repo_digests if was else ()) if d.startswith(f"{ref.name}@")]
        by_digest = digests[0] if digests else to.images.get(service, "")
        if "@" in by_digest:
            pinned[service] = by_digest
        else:
            notes.append(f"{service}: {text} moved and the image release {to.id} ran is no "
                         "longer on the host: it runs what the tag points to now")  # fmt: skip
    return pinned, notes


def rollback(hs: HostStack, to: Release, deadline: Deadline) -> list[str]:
    """Return the stack to release `to`: its files, .env and service set (services it did not
    have are stopped and removed), pinning by digest only the services whose tag moved since,
    so compose recreates only what differs from `to`; close the failed release's attempt so
    that a rerun of it redoes its steps. Returns notes for the report."""
    locking.close_attempt(hs, "rolled_back", deadline.left())
    runner = hs.runner
    notes = []
    try:
        changed = switch.switch(hs, runner, deadline, to.id)
        notes.append(f"restored release {to.id}'s files and .env ({len(changed)} change(s))")
    except switch.ReleaseNotStaged as exc:
        notes.append(f"{exc}: rolled back images only")
    pinned, unpinned = pins(to, read_facts(hs, deadline).images)
    notes += unpinned
    extra: tuple[str, ...] = ()
    if pinned:
        runner.write_file(hs.project.state.override, image_override(pinned).encode(),
                          mode=0o644, deadline=deadline)  # fmt: skip
        extra = (hs.project.state.override,)
        notes.append(f"pinned by digest (their tag moved): {', '.join(sorted(pinned))}")
    one_shot = set(to.one_shot)
    waits = tuple(s for s in to.services if s not in one_shot)
    starts = UpServices(waits) if one_shot & set(to.services) else EVERY_SERVICE
    up.start(hs, runner, deadline, starts, extra)
    return notes
