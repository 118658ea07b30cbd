"""Rollback: return a stack to a recorded release (files, .env, service set; only the images
whose tag moved since are put back: the tag pointed at the recorded image again, or by digest
when that image is gone)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from dockyard.commands import docker
from dockyard.commands.compose import image_override
from dockyard.compose.oneshot import EVERY_SERVICE, UpServices
from dockyard.deadline import Deadline
from dockyard.host import lease
from dockyard.host.facts import read_facts
from dockyard.host.releases import Release
from dockyard.images.plan import LocalImage
from dockyard.images.ref import ImageRef, InvalidImageRef, matches_local
from dockyard.pipeline import switch, up
from dockyard.session import HostStack


@dataclass
class Pins:
    """What a rollback puts back: local tags pointed at the recorded image again (ref -> image
    id), services pinned by digest (service -> ref@digest), notes for the report."""

    retag: dict[str, str] = field(default_factory=dict)
    pinned: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def pins(to: Release, images: Iterable[LocalImage]) -> Pins:
    """For the services of release `to` whose tag no longer points to the image it recorded
    (the rest run from the restored files as they did): point the tag at that image again when
    it is still on the host (the service keeps its compose config: a later deploy of `to` is a
    no-op), else pin it by the recorded digest; a note where neither is possible."""
    images = tuple(images)
    out = Pins()
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
        if was is not None:
            out.retag[text] = was.id
            continue
        by_digest = to.images.get(service, "")
        if "@" in by_digest:
            out.pinned[service] = by_digest
        else:
            out.notes.append(f"{service}: {text} moved and the image release {to.id} ran is no "
                             "longer on the host: it runs what the tag points to now")  # fmt: skip
    return out


def restore(hs: HostStack, to: Release, deadline: Deadline) -> list[str]:
    """Return the stack to release `to`: its files, .env and service set (services it did not
    have are stopped and removed), putting back only the images whose tag moved since,
    so compose recreates only what differs from `to`; close the failed release's attempt so
    that a rerun of it redoes its steps. Returns notes for the report."""
    lease.close_attempt(hs, "rolled_back", deadline)
    runner = hs.runner
    notes = []
    try:
        changed = switch.switch(hs, runner, deadline, to.id)
        notes.append(f"restored release {to.id}'s files and .env ({len(changed)} change(s))")
    except switch.ReleaseNotStaged as exc:
        notes.append(f"{exc}: rolled back images only")
    back = pins(to, read_facts(hs, deadline).images)
    notes += back.notes
    for ref, image_id in sorted(back.retag.items()):
        runner.run(docker.tag(image_id, ref), deadline=deadline)
    if back.retag:
        notes.append(
            f"tags pointed back at release {to.id}'s images: {', '.join(sorted(back.retag))}"
        )
    extra: tuple[str, ...] = ()
    if back.pinned:
        runner.write_file(hs.project.state.override, image_override(back.pinned).encode(),
                          mode=0o644, deadline=deadline)  # fmt: skip
        extra = (hs.project.state.override,)
        notes.append(f"pinned by digest (their image is gone): {', '.join(sorted(back.pinned))}")
    one_shot = set(to.one_shot)
    waits = tuple(s for s in to.services if s not in one_shot)
    starts = UpServices(waits) if one_shot & set(to.services) else EVERY_SERVICE
    up.start(hs, runner, deadline, starts, extra, remove_orphans=True)
    return notes
