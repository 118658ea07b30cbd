"""Who holds the space when the gate still fails: other projects, stand-alone containers,
images nobody owns, dockyard's kept images, build cache and volumes (with their sizes)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dockyard.commands import disk as commands
from dockyard.deadline import Deadline
from dockyard.disk.gate import size
from dockyard.disk.inventory import EngineContainer, EngineImage, Inventory
from dockyard.disk.ownership import Ownership
from dockyard.runner import Runner

SHOWN = 3
"""Image names listed per holder."""


@dataclass
class _Holder:
    what: str
    containers: list[EngineContainer] = field(default_factory=list)
    images: dict[str, EngineImage] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(c.size_rw for c in self.containers) + sum(i.size for i in self.images.values())

    def __str__(self) -> str:
        parts = []
        if self.containers:
            stopped = sum(c.stopped for c in self.containers)
            written = size(sum(c.size_rw for c in self.containers))
            parts.append(f"{len(self.containers)} container(s) ({stopped} stopped, {written} "
                         "written)")  # fmt: skip
        if self.images:
            ranked = sorted(self.images.values(), key=lambda i: (-i.size, i.id))
            names = ", ".join(i.label for i in ranked[:SHOWN])
            more = f", {len(ranked) - SHOWN} more" if len(ranked) > SHOWN else ""
            total = size(sum(i.size for i in ranked))
            parts.append(f"{len(ranked)} image(s) {total} ({names}{more})")
        return f"{self.what}: {', '.join(parts)}"


def who_holds(inventory: Inventory, ownership: Ownership, usage: Mapping[str, str]) -> list[str]:
    """One line per holder, largest first (image sizes include layers they share), then the
    build cache and volumes as `docker system df` counts them."""
    images = {i.id: i for i in inventory.images}
    holders: dict[str, _Holder] = {}
    for container in inventory.containers:
        key = _holder_of(container, ownership)
        holder = holders.setdefault(key, _Holder(key))
        holder.containers.append(container)
        if container.image in images:
            holder.images[container.image] = images[container.image]
    unused = [i for i in inventory.images if i.id not in inventory.in_use]
    kept = _Holder(
        "dockyard's kept images (running now or of each stack's kept releases)",
        images={i.id: i for i in unused if ownership.kept.matches(i)},
    )
    foreign = _Holder(
        "images no container uses and no dockyard release names (not dockyard's)",
        images={i.id: i for i in unused if i.id not in kept.images and not ownership.owns_image(i)},
    )
    ranked = sorted((*holders.values(), kept, foreign), key=lambda h: -h.bytes)
    lines = [str(h) for h in ranked if h.containers or h.images]
    engine = [f"{kind.lower()} {usage[kind]}" for kind in ("Build Cache", "Local Volumes")
              if kind in usage]  # fmt: skip
    if engine:
        lines.append(f"{', '.join(engine)} (dockyard never removes these)")
    return lines


def engine_usage(runner: Runner, deadline: Deadline) -> dict[str, str]:
    """`docker system df` sizes by kind ("Images", "Build Cache", ...), as docker prints them;
    empty if the engine cannot tell (the report is then without them)."""
    result = runner.run(commands.system_df(), deadline=deadline, check=False, quiet=True)
    return dict(_usage_rows(result.stdout.splitlines()) if result.exit_status == 0 else ())


def _usage_rows(lines: Iterable[str]) -> Iterable[tuple[str, str]]:
    for line in lines:
        try:
            row = json.loads(line)
            yield str(row["Type"]), str(row["Size"])
        except (ValueError, KeyError, TypeError):
            continue


def _holder_of(container: EngineContainer, ownership: Ownership) -> str:
    if container.project is None:
        return "stand-alone containers (not dockyard's)"
    if ownership.owns_container(container):
        return f"dockyard stack {container.project} (in use)"
    return f"project {container.project} (not dockyard's)"
