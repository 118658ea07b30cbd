"""Turn measurements into figures per scenario and contender: medians, spread, floors, ratios."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.runner import Measurement
from bench.scenarios import Scenario

BLANKET = "blanket"
WAIT = "targeted-shell-wait"


@dataclass
class Figure:
    """One row of the results table."""

    scenario: str
    title: str
    contender: str
    rounds: int
    succeeded: int
    wall_median_s: float | None
    wall_min_s: float | None
    wall_max_s: float | None
    ready_median_s: float | None
    bytes_down_median: int | None
    requests_median: float | None
    answered_503: int
    needed_bytes: int | None
    orchestration_median_s: float | None
    cpu_median_s: float | None
    floor_s: float | None
    over_floor: float | None
    time_vs_blanket: float | None
    bytes_vs_blanket: float | None
    time_vs_wait: float | None
    errors: list[str]
    warnings: list[str]


def figures(scenarios: list[Scenario], measurements: list[Measurement]) -> list[Figure]:
    """A Figure per (scenario, contender) in run order; ratios (to blanket, and to
    targeted-shell-wait where it ran) use successful rounds only."""
    rows: list[Figure] = []
    for scenario in scenarios:
        ms = [m for m in measurements if m.scenario == scenario.key]
        names = list(dict.fromkeys(m.contender for m in ms))
        scenario_rows = [_figure(scenario, name, [m for m in ms if m.contender == name])
                         for name in names]  # fmt: skip
        blanket = next((r for r in scenario_rows if r.contender == BLANKET), None)
        wait = next((r for r in scenario_rows if r.contender == WAIT), None)
        for row in scenario_rows:
            if blanket and row.contender != BLANKET:
                row.time_vs_blanket = _ratio(row.wall_median_s, blanket.wall_median_s)
                row.bytes_vs_blanket = _ratio(row.bytes_down_median, blanket.bytes_down_median)
            if wait and row.contender != WAIT:
                row.time_vs_wait = _ratio(row.wall_median_s, wait.wall_median_s)
        rows += scenario_rows
    return rows


def _figure(scenario: Scenario, name: str, ms: list[Measurement]) -> Figure:
    good = [m for m in ms if m.ok]
    walls = [m.wall_s for m in good]
    wall = _median(walls)
    needed = _median([m.needed_bytes for m in ms])
    floor = needed / scenario.throttle if scenario.throttle and needed is not None else None
    orchestration = [m.orchestration_s for m in good if m.orchestration_s is not None]
    return Figure(
        scenario=scenario.key,
        title=scenario.title,
        contender=name,
        rounds=len(ms),
        succeeded=len(good),
        wall_median_s=wall,
        wall_min_s=min(walls) if walls else None,
        wall_max_s=max(walls) if walls else None,
        ready_median_s=_median([m.ready_s for m in good if m.ready_s is not None]),
        bytes_down_median=_int(_median([m.bytes_down for m in good])),
        requests_median=_median([m.registry_requests for m in good]),
        answered_503=sum(m.answered_503 for m in ms),
        needed_bytes=_int(needed),
        orchestration_median_s=_median(orchestration),
        cpu_median_s=_median([m.cpu_s for m in good]),
        floor_s=None if floor is None else round(floor, 3),
        over_floor=_ratio(wall, floor),
        time_vs_blanket=None,
        bytes_vs_blanket=None,
        time_vs_wait=None,
        errors=sorted({m.error for m in ms if m.error}),
        warnings=sorted({w for m in ms for w in m.warnings}),
    )


def _median(values: list[float] | list[int]) -> float | None:
    return round(float(statistics.median(values)), 3) if values else None


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 3)
