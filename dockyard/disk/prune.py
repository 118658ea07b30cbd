"""The disk gate's stepwise prune and the cleanup after a deploy: only what dockyard owns.

Each removal is one `docker ... rm` without force, so the engine itself refuses a container
that started or an image a container began to use meanwhile; such a refusal is noted and
the prune goes on. Build cache, volumes and everything dockyard does not own stay."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from dockyard.commands import disk as commands
from dockyard.deadline import Deadline
from dockyard.disk.gate import DiskGate, DiskStatus, disk_status, size
from dockyard.disk.holders import engine_usage, who_holds
from dockyard.disk.inventory import EngineImage, Inventory, read_inventory
from dockyard.disk.ownership import Ownership
from dockyard.errors import DeployError
from dockyard.report import PruneSection
from dockyard.runner import Runner

Say = Callable[[str], None]


class PruneStep(StrEnum):
    """The prune steps, in the order they run (cheapest loss first)."""

    UNTAGGED_IMAGES = "untagged-images"
    STOPPED_CONTAINERS = "stopped-containers"
    OLD_RELEASE_IMAGES = "old-release-images"


@dataclass(frozen=True, slots=True)
class Removal:
    """One container or image a prune removed, and its size (an image's includes shared layers)."""

    kind: str
    name: str
    bytes: int

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({size(self.bytes)})"


@dataclass
class PruneReport:
    """What one prune did: bytes freed per step, what it removed, what the engine refused, the
    outcome, and (when the gate still fails) who holds the space."""

    passed: bool
    outcome: str
    before: DiskStatus | None = None
    after: DiskStatus | None = None
    steps: list[tuple[PruneStep, int]] = field(default_factory=list)
    removed: list[Removal] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)

    def section(self, stack: str, step: str) -> PruneSection:
        """The deploy report's section for this prune of `stack` during `step`."""
        return PruneSection(stack, step, self.outcome, [str(r) for r in self.removed],
                            list(self.refused), list(self.holders))  # fmt: skip


class DiskPressure(DeployError):
    """The disk gate still fails after every allowed prune step."""


class GateStillFails(DiskPressure):
    """The disk gate still fails after every prune step; `prune` says what was removed and
    who holds the space."""

    def __init__(self, message: str, prune: PruneReport) -> None:
        super().__init__(message)
        self.prune = prune


@dataclass
class _Pruner:
    runner: Runner
    deadline: Deadline
    ownership: Ownership
    report: PruneReport
    say: Say

    def images(self, *, untagged_only: bool, done: Callable[[], bool]) -> None:
        """Remove removable images one by one, largest first, until `done()`; an image
        removed frees its parent to go next."""
        inventory = read_inventory(self.runner, self.deadline)
        tried: set[str] = set()
        while True:
            candidates = removable_images(inventory, self.ownership, untagged_only=untagged_only)
            image = next((i for i in candidates if i.id not in tried), None)
            if image is None:
                return
            tried.add(image.id)
            argv = commands.remove_image(image.removal_refs())
            if self._remove("image", image.label, image.size, argv):
                inventory = inventory.without_image(image.id)
                if done():
                    return

    def containers(self, *, done: Callable[[], bool]) -> None:
        """Remove the config's stacks' stopped containers, largest first, until `done()`."""
        inventory = read_inventory(self.runner, self.deadline, sizes=True)
        for container in sorted(inventory.containers, key=lambda c: (-c.size_rw, c.id)):
            if not (container.stopped and self.ownership.owns_container(container)):
                continue
            name = f"{container.name} (project {container.project})"
            argv = commands.remove_container(container.id)
            if self._remove("container", name, container.size_rw, argv) and done():
                return

    def _remove(self, kind: str, name: str, nbytes: int, argv: list[str]) -> bool:
        result = self.runner.run(argv, deadline=self.deadline, check=False, quiet=True)
        if result.exit_status != 0:
            why = result.stderr.strip().splitlines()[-1:] or [f"exit {result.exit_status}"]
            self.report.refused.append(f"{kind} {name}: {why[0][:200]}")
            self.say(f"kept {kind} {name}: the engine refused: {why[0][:200]}")
            return False
        self.report.removed.append(Removal(kind, name, nbytes))
        self.say(f"removed {kind} {name} ({size(nbytes)})")
        return True


def removable_images(
    inventory: Inventory, ownership: Ownership, *, untagged_only: bool = False
) -> list[EngineImage]:
    """Images a prune may remove now, largest first: dockyard owns them, no container uses
    them, nothing kept names them, no image is built on them; with `untagged_only`, only
    those without a tag (which includes images pulled by digest)."""
    in_use, parents = inventory.in_use, inventory.parents
    chosen = [
        image
        for image in inventory.images
        if image.id not in in_use
        and image.id not in parents
        and not (untagged_only and image.repo_tags)
        and ownership.owns_image(image)
        and not ownership.kept.matches(image)
    ]
    return sorted(chosen, key=lambda image: (-image.size, image.id))


def ensure_space(
    runner: Runner,
    deadline: Deadline,
    data_root: str,
    gate: DiskGate,
    ownership: Ownership,
    say: Say,
) -> PruneReport:
    """Make the gate pass by removing what dockyard owns, step by step, stopping as soon as it
    passes. Raises GateStillFails, naming who holds the space, when it still fails after all."""
    now = disk_status(runner, deadline, data_root)
    report = PruneReport(gate.passes(now), f"gate passes: {gate.reason(now)}", now, now)
    if report.passed:
        return report
    say(f"disk gate fails on {data_root}: {gate.reason(now)}; pruning what dockyard owns")
    pruner = _Pruner(runner, deadline, ownership, report, say)

    def measure() -> DiskStatus:
        report.after = status = disk_status(runner, deadline, data_root)
        report.passed = gate.passes(status)
        return status

    def done() -> bool:
        return gate.passes(measure())

    for step in PruneStep:
        if step is PruneStep.STOPPED_CONTAINERS:
            pruner.containers(done=done)
        else:
            pruner.images(untagged_only=step is PruneStep.UNTAGGED_IMAGES, done=done)
        start, now = now, measure()
        freed = max(0, now.free_bytes - start.free_bytes)
        report.steps.append((step, freed))
        say(f"{step}: freed {size(freed)}; now {now}")
        if report.passed:
            report.outcome = f"gate passes after pruning: {gate.reason(now)}"
            say(f"disk gate passes: {gate.reason(now)}")
            return report
    raise _still_fails(runner, deadline, data_root, gate, ownership, report, now)


def cleanup(runner: Runner, deadline: Deadline, ownership: Ownership, say: Say) -> PruneReport:
    """After a successful deploy: remove the untagged images dockyard pulled for its stacks
    (named by their release records) that nothing uses or keeps; never `docker image prune`,
    which also deletes every other project's images pulled by digest."""
    report = PruneReport(True, "")
    _Pruner(runner, deadline, ownership, report, say).images(untagged_only=True, done=lambda: False)
    freed = sum(r.bytes for r in report.removed)
    report.outcome = (
        f"removed {len(report.removed)} untagged image(s) dockyard pulled ({size(freed)})"
    )
    return report


def _still_fails(
    runner: Runner,
    deadline: Deadline,
    data_root: str,
    gate: DiskGate,
    ownership: Ownership,
    report: PruneReport,
    now: DiskStatus,
) -> GateStillFails:
    inventory = read_inventory(runner, deadline, sizes=True)
    report.holders = who_holds(inventory, ownership, engine_usage(runner, deadline))
    freed = sum(r.bytes for r in report.removed)
    report.outcome = (
        f"gate still fails: {gate.reason(now)}; removed {len(report.removed)} of "
        f"dockyard's own containers and images ({size(freed)}), nothing else"
    )
    holders = "; ".join(report.holders) or "nothing dockyard can see"
    return GateStillFails(
        f"disk gate still fails on {data_root} after pruning what dockyard owns: "
        f"{gate.reason(now)} (was {report.before}, now {now}; removed "
        f"{len(report.removed)} of its own containers and images, {size(freed)}). Who holds "
        f"the space: {holders}. Free space on the host (dockyard never removes other projects', "
        "stand-alone containers', volumes or build cache), or lower the thresholds under disk: "
        "(min_free_gb, max_used_pct)",
        report,
    )
