"""The disk steps of a stack: the gate before the pulls (free space, pruning only what dockyard
owns, step by step) and the cleanup after a good deploy (the untagged images it pulled)."""

from __future__ import annotations

from collections.abc import Iterable

from dockyard.deadline import Deadline
from dockyard.disk import prune
from dockyard.disk.gate import DiskGate, DiskStatus, size
from dockyard.disk.ownership import read_ownership
from dockyard.disk.prune import PruneReport
from dockyard.host.facts import HostFacts
from dockyard.pipeline.critical_path import PULL_HEADROOM, room_to_spare, used_pct
from dockyard.session import HostStack


def gate(
    hs: HostStack, facts: HostFacts, protected: Iterable[str], deadline: Deadline
) -> PruneReport:
    """Pass disk.min_free_gb and disk.max_used_pct on the engine's data root (from the stack's
    facts), pruning what dockyard owns, never what `protected` names nor any kept release.
    When the facts (read this deploy) show the gate passing with PULL_HEADROOM to spare, it
    passes on them without a round trip: no prune could be needed."""
    disk = hs.config.disk
    limits = DiskGate(disk.min_free_gb, disk.max_used_pct)
    if facts.disk is not None and room_to_spare(facts.disk, limits):
        status = DiskStatus(facts.disk.available, facts.disk.size, used_pct(facts.disk))
        hs.log(f"disk gate passes on the host facts with {size(PULL_HEADROOM)} to spare: "
               f"{limits.reason(status)}")  # fmt: skip
        return PruneReport(True, f"gate passes (host facts): {limits.reason(status)}", status,
                           status)  # fmt: skip
    ownership = read_ownership(hs.runner, hs.config, protected, deadline)
    return prune.ensure_space(hs.runner, deadline, str(facts.root_dir), limits, ownership, hs.log)


def cleanup(hs: HostStack, protected: Iterable[str], deadline: Deadline) -> PruneReport:
    """Remove the untagged images dockyard pulled for its stacks, never those `protected`
    names, any stack's kept releases, or another project's."""
    ownership = read_ownership(hs.runner, hs.config, protected, deadline)
    return prune.cleanup(hs.runner, deadline, ownership, hs.log)
