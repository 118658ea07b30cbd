"""The release's critical path between the plan and stop-first: which steps wait for which.

After the plan, verify, sync, the release history and the disk gate need nothing from each
other, so they start together; env follows sync (both write the staged files dir). A pull
waits for the disk gate only when the gate could prune (the host facts do not show room to
spare: the gate then frees space before the pull needs it); with room to spare the pulls start
at once. A job is the first change to the stack, so it waits for every check (verify, the disk
gate), for the staged files and `.env`, for the job before it (jobs run in their order) and
for every pull: a migration must not run for a release whose images may still fail to come,
nor share the link with a pull that a fault makes it retry. Stop-first waits for all of them."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dockyard.disk.gate import GB, DiskGate, DiskStatus
from dockyard.host.facts import Disk

PULL_HEADROOM = 10 * GB
"""Space beyond the gate's thresholds that lets pulls run beside the gate: pulls landing while
the gate measures cannot make it fail or prune unless they bring more than this."""

CHECKS = ("verify", "sync", "env", "releases", "disk")
PULL = "pull"
ENV_AFTER = frozenset({"sync"})
"""`.env` is written after sync: a bundle's own `.env` file that sync uploads must not land
over the rendered one."""


@dataclass(frozen=True)
class Node:
    """One step of the path: its report label and the labels it waits for."""

    label: str
    after: frozenset[str]

    @property
    def is_pull(self) -> bool:
        return self.label.startswith(f"{PULL} ")


@dataclass(frozen=True)
class ReleasePath:
    """The steps from the plan to stop-first, at most `pulls_at_once` pulls running at once."""

    nodes: tuple[Node, ...]
    pulls_at_once: int

    def ready(self, done: Iterable[str], started: Iterable[str]) -> list[str]:
        """The steps that may start now, in path order: not started, everything they wait for
        done, and within the pull limit."""
        done, started = set(done), set(started)
        running_pulls = sum(1 for n in self.nodes if n.is_pull and n.label in started - done)
        free = self.pulls_at_once - running_pulls
        ready = []
        for node in self.nodes:
            if node.label in started or not node.after <= done:
                continue
            if node.is_pull:
                if free <= 0:
                    continue
                free -= 1
            ready.append(node.label)
        return ready

    def after(self, label: str) -> frozenset[str]:
        """What `label` waits for."""
        return next(n.after for n in self.nodes if n.label == label)


def room_to_spare(disk: Disk | None, gate: DiskGate, headroom: int = PULL_HEADROOM) -> bool:
    """Whether the host facts show the disk gate passing with `headroom` bytes more used: then
    the gate will not prune, and pulls need not wait for it. Unknown disk: not shown."""
    if disk is None or disk.size <= 0:
        return False
    spent = Disk(disk.size, disk.available - headroom)
    return spent.available >= 0 and gate.passes(DiskStatus(spent.available, disk.size,
                                                           used_pct(spent)))  # fmt: skip


def used_pct(disk: Disk) -> float:
    """The used % of `disk`, as df rounds it (up)."""
    return float(math.ceil(100.0 * (disk.size - disk.available) / disk.size))


def release_path(
    pulls: Sequence[str], jobs: Sequence[str], pulls_wait_for_gate: bool, pulls_at_once: int
) -> ReleasePath:
    """The path for the `pulls` and the ordered `jobs` (their report labels)."""
    nodes = [Node(name, ENV_AFTER if name == "env" else frozenset()) for name in CHECKS]
    pull_after = frozenset({"disk"}) if pulls_wait_for_gate else frozenset()
    nodes += [Node(label, pull_after) for label in pulls]
    previous: frozenset[str] = frozenset()
    for label in jobs:
        after = frozenset(CHECKS) - {"releases"} | frozenset(pulls) | previous
        nodes.append(Node(label, after))
        previous = frozenset({label})
    return ReleasePath(tuple(nodes), max(1, pulls_at_once))
