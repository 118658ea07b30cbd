"""Issue 21's targets computed from one run's figures: each target's measure and met or not,
as the README's targets table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.figures import WAIT, Figure

DOCKYARD = "dockyard"
EPHEMERAL = "dockyard (ephemeral)"
ANSIBLE = "ansible"
TARGETED = "targeted-shell"
RELEASE, PRUNE, NOOP = "2", "3", "1"
FLOOR_SCENARIOS = ("3", "4a", "4b")
FAULT_SCENARIOS = ("5", "6")
BYTES_SLACK = 1.02  # manifests and config blobs ride on top of the layers' bytes


@dataclass(frozen=True)
class Target:
    """One target: what it asks, what this run measured, and met (None: not measured)."""

    target: str
    measured: str
    met: bool | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def targets(rows: list[Figure]) -> list[Target]:
    """Every target of issue 21, from the figures of one run (scenarios left out: not measured)."""
    fig = {(r.scenario, r.contender): r for r in rows}
    return [
        _release_vs_wait(fig),
        _release_vs_ansible(fig),
        _floors(fig),
        _no_server(fig),
        _noop(fig),
        _bytes(rows),
        _faults(rows),
        _cpu(rows),
    ]


Figures = dict[tuple[str, str], Figure]


def _wall(fig: Figures, scenario: str, contender: str) -> float | None:
    row = fig.get((scenario, contender))
    return row.wall_median_s if row else None


def _release_vs_wait(fig: Figures) -> Target:
    text = "new release at most 1.5x targeted-shell-wait"
    ours, theirs = _wall(fig, RELEASE, DOCKYARD), _wall(fig, RELEASE, WAIT)
    if ours is None or not theirs:
        return Target(text, "not measured", None)
    ratio = ours / theirs
    return Target(text, f"{ours:.1f} s vs {theirs:.1f} s: {ratio:.2f}x", ratio <= 1.5)


def _release_vs_ansible(fig: Figures) -> Target:
    text = "new release under half of Ansible (our playbook, same stack and transition)"
    ours, theirs = _wall(fig, RELEASE, DOCKYARD), _wall(fig, RELEASE, ANSIBLE)
    if ours is None or not theirs:
        return Target(text, "not measured", None)
    ratio = ours / theirs
    return Target(text, f"{ours:.1f} s vs {theirs:.1f} s: {ratio:.2f}x", ratio < 0.5)


def _floors(fig: Figures) -> Target:
    """Throttled scenarios against bytes / link rate; the unthrottled prune against
    targeted-shell-wait's wall (the link has no set rate: the script's time is its floor)."""
    text = "after a prune and throttled: at most 1.2x the floor + 3 s"
    parts, verdicts = [], []
    for scenario in FLOOR_SCENARIOS:
        row = fig.get((scenario, DOCKYARD))
        floor = row.floor_s if row else None
        kind = "floor"
        if row and floor is None:
            floor, kind = _wall(fig, scenario, WAIT), "targeted-shell-wait"
        if row is None or row.wall_median_s is None or floor is None:
            continue
        limit = 1.2 * floor + 3
        verdicts.append(row.wall_median_s <= limit)
        parts.append(f"{scenario} {row.wall_median_s:.1f} s, limit {limit:.1f} s "
                     f"({kind} {floor:.1f} s)")  # fmt: skip
    if not parts:
        return Target(text, "not measured", None)
    return Target(text, "; ".join(parts), all(verdicts))


def _no_server(fig: Figures) -> Target:
    text = "no server (local API) at most +1 s over a running server"
    parts, verdicts = [], []
    for scenario in (NOOP, RELEASE):
        cold, warm = _wall(fig, scenario, EPHEMERAL), _wall(fig, scenario, DOCKYARD)
        if cold is None or warm is None:
            continue
        verdicts.append(cold - warm <= 1.0)
        parts.append(f"{scenario} {cold:.1f} s vs {warm:.1f} s ({cold - warm:+.1f} s)")
    if not parts:
        return Target(text, "not measured", None)
    return Target(text, "; ".join(parts), all(verdicts))


def _noop(fig: Figures) -> Target:
    text = "no-op at or under targeted-shell"
    ours, theirs = _wall(fig, NOOP, DOCKYARD), _wall(fig, NOOP, TARGETED)
    if ours is None or not theirs:
        return Target(text, "not measured", None)
    return Target(text, f"{ours:.1f} s vs {theirs:.1f} s: {ours / theirs:.2f}x", ours <= theirs)


def _bytes(rows: list[Figure]) -> Target:
    text = f"bytes exactly the need (MB down / MB needed at most {BYTES_SLACK})"
    ratios = [
        (r.scenario, r.bytes_down_median / r.needed_bytes)
        for r in rows
        if r.contender == DOCKYARD and r.needed_bytes and r.bytes_down_median is not None
    ]
    if not ratios:
        return Target(text, "not measured", None)
    worst = max(ratios, key=lambda x: x[1])
    return Target(text, f"highest {worst[1]:.3f} (scenario {worst[0]})", worst[1] <= BYTES_SLACK)


def _faults(rows: list[Figure]) -> Target:
    text = "every fault scenario passes"
    runs = [r for r in rows if r.contender == DOCKYARD and r.scenario in FAULT_SCENARIOS]
    if not runs:
        return Target(text, "not measured", None)
    shown = ", ".join(f"{r.scenario} {r.succeeded}/{r.rounds}" for r in runs)
    return Target(text, shown, all(r.rounds and r.succeeded == r.rounds for r in runs))


def _cpu(rows: list[Figure]) -> Target:
    text = "the deployer's CPU seconds per host deploy reported"
    runs = [r for r in rows if r.contender == DOCKYARD and r.cpu_median_s is not None]
    if not runs:
        return Target(text, "not measured", None)
    shown = ", ".join(f"{r.scenario} {r.cpu_median_s:.1f} s" for r in runs)
    return Target(text, f"user+sys per deploy: {shown}", True)
