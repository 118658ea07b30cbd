"""Write the figures as bench/results/results.json (for machines) and results.md (the table)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.figures import Figure
from bench.profile import profile_lines
from bench.runner import Measurement
from bench.scenarios import Scenario
from bench.targets import Target, targets

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def write(
    meta: dict[str, Any],
    scenarios: list[Scenario],
    rows: list[Figure],
    measurements: list[Measurement],
    directory: Path = RESULTS_DIR,
) -> tuple[Path, Path]:
    """results.json and results.md under `directory`; returns both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        **meta,
        "scenarios": [{**asdict(s), "kind": s.kind.value} for s in scenarios],
        "figures": [asdict(r) for r in rows],
        "measurements": [asdict(m) for m in measurements],
        "targets": [t.to_json() for t in targets(rows)],
    }
    json_path = directory / "results.json"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path = directory / "results.md"
    md_path.write_text(markdown(meta, rows, measurements))
    return json_path, md_path


def markdown(
    meta: dict[str, Any], rows: list[Figure], measurements: list[Measurement] | None = None
) -> str:
    """The results table with date, machine, notes and the per-phase profile."""
    m = meta["machine"]
    lines = [
        "# dockyard benchmark results",
        "",
        f"- date: {meta['date']}",
        f"- machine: {m['nproc']} cores ({m['cpu']}), {m['memory_gib']} GiB, kernel {m['kernel']}",
        f"- rounds: {meta['rounds_note']}; whole run {meta['duration_s']:.0f} s",
        f"- lab: {meta['lab_dir']}; registry link through the bench's own fault proxy "
        f"(127.0.0.1:5100), SSH to vm2 through 127.0.0.1:2230",
        "",
        "wall = the deploy command's time (median, min-max over successful rounds); ready = "
        "until the app answers /version with the new release; MB down = bytes the registry "
        "sent through the proxy; MB needed = blob bytes of the release's images whose layers "
        "(by chain ID) were not on the engine; req = registry HTTP requests; orch = dockyard "
        "wall time minus its steps' own time (parallel pulls counted as the phase they make on "
        "images.parallel workers: the longest pull when there are no more pulls than workers); "
        "floor = MB needed / link rate (throttled scenarios only); x = ratio; x wait = time "
        "x targeted-shell-wait (release and prune scenarios); cpu s = user + sys CPU seconds "
        "of the deploy command and the processes it waited for, on the deploying machine "
        "(median; one host per deploy here, so per host deploy).",
        "",
        "| # | scenario | contender | ok | wall s | ready s | MB down | MB needed | req | orch s "
        "| cpu s | floor s | x floor | time x blanket | MB x blanket | x wait |",
        "| --- " * 16 + "|",
    ]
    for r in rows:
        wall = "-" if r.wall_median_s is None else (
            f"{r.wall_median_s:.1f} ({r.wall_min_s:.1f}-{r.wall_max_s:.1f})"
            if r.succeeded > 1 else f"{r.wall_median_s:.1f}"
        )  # fmt: skip
        lines.append(
            f"| {r.scenario} | {r.title} | {r.contender} | {r.succeeded}/{r.rounds} | {wall} "
            f"| {_num(r.ready_median_s)} | {_mb(r.bytes_down_median)} | {_mb(r.needed_bytes)} "
            f"| {_num(r.requests_median, 0)} "
            f"| {_num(r.orchestration_median_s, 2)} | {_num(r.cpu_median_s, 2)} "
            f"| {_num(r.floor_s)} | {_num(r.over_floor, 2)} "
            f"| {_num(r.time_vs_blanket, 2)} | {_num(r.bytes_vs_blanket, 2)} "
            f"| {_num(r.time_vs_wait, 2)} |"
        )
    lines += ["", "## Targets (issue 21; ratios in this run)", ""]
    lines += _target_table(targets(rows))
    extra = meta.get("notes", [])
    if extra:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in extra]
    titles = {r.scenario: r.title for r in rows}
    profile = profile_lines(measurements or [], titles)
    if profile:
        lines += [
            "",
            "## Per-phase profile (step seconds, medians over successful rounds; "
            "critical path from the steps' start offsets)",
            "",
        ]
        lines += [f"- {line}" for line in profile]
    failures = [(r, e) for r in rows for e in r.errors]
    if failures:
        lines += ["", "## Failures", ""]
        lines += [f"- {r.scenario} {r.contender}: `{_one_line(e)}`" for r, e in failures]
    warnings = sorted({(r.scenario, w) for r in rows for w in r.warnings})
    if warnings:
        lines += ["", "## Warnings (figures may be off)", ""]
        lines += [f"- {key}: {w}" for key, w in warnings]
    return "\n".join(lines) + "\n"


def _target_table(found: list[Target]) -> list[str]:
    """The README's targets table: target, measured, met?"""
    verdict = {True: "yes", False: "**no**", None: "not measured"}
    rows = [f"| {t.target} | {t.measured} | {verdict[t.met]} |" for t in found]
    return ["| target | measured | met? |", "| --- | --- | --- |", *rows]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _mb(value: int | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def _one_line(text: str) -> str:
    flat = " / ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat[:600].replace("|", "\\|").replace("`", "'")
