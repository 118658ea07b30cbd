"""The per-phase profile: where each dockyard run's wall time goes, step by step (medians)."""

from __future__ import annotations

from collections.abc import Iterable
from statistics import median

from bench.runner import Measurement

PULLS = "pulls (sum)"


def _phases(m: Measurement) -> dict[str, float]:
    """A run's step seconds, its image pulls summed into one phase."""
    out: dict[str, float] = {}
    for name, seconds in m.step_times.items():
        key = PULLS if name.startswith("pull ") else name
        out[key] = out.get(key, 0.0) + seconds
    return out


def _steps_s(m: Measurement) -> float:
    """The steps' own time: the runner's figure (parallel pulls as one phase) when it has one."""
    return m.steps_s if m.steps_s is not None else sum(m.step_times.values())


def profile_lines(measurements: Iterable[Measurement], titles: dict[str, str]) -> list[str]:
    """One line per scenario and dockyard contender with step times: the median wall, the median
    seconds outside the steps (CLI start, Prefect, orchestration) and each step's median,
    slowest first. Runs without a JSON report are left out."""
    groups: dict[tuple[str, str], list[Measurement]] = {}
    for m in measurements:
        if m.ok and m.step_times:
            groups.setdefault((m.scenario, m.contender), []).append(m)
    lines = []
    for (scenario, contender), runs in groups.items():
        phases: dict[str, list[float]] = {}
        for run in runs:
            for name, seconds in _phases(run).items():
                phases.setdefault(name, []).append(seconds)
        steps = sorted(((median(v), k) for k, v in phases.items()), reverse=True)
        wall = median(r.wall_s for r in runs)
        outside = median(r.wall_s - _steps_s(r) for r in runs)
        shown = ", ".join(f"{name} {seconds:.2f}" for seconds, name in steps)
        lines.append(f"{scenario} {titles.get(scenario, '')}, {contender} ({len(runs)} run(s)): "
                     f"wall {wall:.2f} s, outside steps {outside:.2f} s; {shown}")  # fmt: skip
    return lines
