"""Rollback: return a stack to a recorded release (files, .env, service set, images by digest)."""

from __future__ import annotations

from dockyard.commands.compose import image_override
from dockyard.deadline import Deadline
from dockyard.host import lease
from dockyard.host.releases import Release
from dockyard.pipeline import switch
from dockyard.session import HostStack


def restore(hs: HostStack, to: Release, deadline: Deadline) -> list[str]:
    """Return the stack to release `to`: its files, .env and service set (services it did not
    have are stopped and removed) and its images by digest; close the failed release's
    attempt so that a rerun of it redoes its steps. Returns notes for the report."""
    lease.close_attempt(hs, "rolled_back", deadline)
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
