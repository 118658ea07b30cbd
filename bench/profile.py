"""The per-phase profile: where each dockyard run's wall time goes, step by step (medians),
and its critical path: which steps overlapped and the longest chain of steps one after another."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from statistics import median

from bench.runner import Measurement

PULLS = "pulls (sum)"
EPSILON = 0.005  # seconds: steps closer than this touch rather than overlap (timer rounding)


@dataclass(frozen=True)
class Span:
    """One step as it ran on the host: start offset and seconds."""

    name: str
    start: float
    seconds: float

    @property
    def end(self) -> float:
        return self.start + self.seconds


def spans(m: Measurement) -> list[Span]:
    """A run's steps with their start offsets, in start order (runs without offsets: none)."""
    if not m.step_starts:
        return []
    found = [Span(n, m.step_starts[n], s) for n, s in m.step_times.items() if n in m.step_starts]
    return sorted(found, key=lambda s: (s.start, s.name))


def overlapping(steps: list[Span]) -> list[list[Span]]:
    """Groups of steps that ran at the same time (each overlaps the group's time span by more
    than EPSILON), in start order; steps that ran alone or took no time are left out."""
    groups: list[list[Span]] = []
    end = float("-inf")
    timed = [s for s in steps if s.seconds > EPSILON]
    for step in sorted(timed, key=lambda s: (s.start, s.name)):
        if groups and step.start < end - EPSILON:
            groups[-1].append(step)
            end = max(end, step.end)
        else:
            groups.append([step])
            end = step.end
    return [g for g in groups if len(g) > 1]


def longest_chain(steps: list[Span]) -> list[Span]:
    """The chain of steps that ran one after another (each started after the previous one
    ended, within EPSILON) with the most seconds in all: the critical path the timings show."""
    ordered = sorted(steps, key=lambda s: (s.end, s.start, s.name))
    best: list[tuple[float, list[Span]]] = []
    for i, step in enumerate(ordered):
        before = [best[j] for j in range(i) if ordered[j].end <= step.start + EPSILON]
        total, chain = max(before, key=lambda b: b[0], default=(0.0, []))
        best.append((total + step.seconds, [*chain, step]))
    return max(best, key=lambda b: b[0], default=(0.0, []))[1]


def critical_path_line(m: Measurement) -> str | None:
    """The steps that overlapped and the longest chain of one run, or None without offsets."""
    steps = spans(m)
    if not steps:
        return None
    chain = longest_chain(steps)
    span = max(s.end for s in steps) - min(s.start for s in steps)
    groups = overlapping(steps)
    parallel = "; ".join(
        f"{', '.join(s.name for s in g)} ({min(s.start for s in g):.2f}-"
        f"{max(s.end for s in g):.2f} s)"
        for g in groups
    )
    path = " > ".join(f"{s.name} {s.seconds:.2f}" for s in chain)
    total = sum(s.seconds for s in chain)
    return f"in parallel: {parallel or 'none'}; longest chain {total:.2f} s of {span:.2f} s: {path}"


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
    slowest first; then the critical path of its median-wall run. Runs without a JSON report
    are left out."""
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
        middle = sorted(runs, key=lambda r: r.wall_s)[(len(runs) - 1) // 2]
        path = critical_path_line(middle)
        if path:
            lines.append(f"{scenario} {contender} critical path (run of {middle.wall_s:.2f} s): "
                         f"{path}")  # fmt: skip
    return lines
