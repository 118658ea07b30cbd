"""Rollback: return a stack to a recorded release (files, .env, service set; by digest only the
images whose tag moved since)."""

from __future__ import annotations

from collections.abc import Iterable

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


def restore(hs: HostStack, to: Release, deadline: Deadline) -> list[str]:
    """Return the stack to release `to`: its files, .env and service set (services it did not
    have are stopped and removed), pinning by digest only the services whose tag moved since,
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
    up.start(hs, runner, deadline, starts, extra, remove_orphans=True)
    return notes
