"""The release-under-load scenario: v1 -> v2 while a bounded load hits the app through the
stack's router; failed requests and the longest gap between successes per contender."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.contenders import Contender, DockyardContender
from bench.load import RATE, TIMEOUT, LoadGenerator
from bench.runner import READY_TIMEOUT, Runner, StageFailed
from bench.workspace import VERSION_URL, Workspace, image
from dockyard.config.stack import UpConfig

SETTLE_SECONDS = 1.0  # load kept on after the new release answers, to see it stays up
START_FIRST = ["app"]


@dataclass
class LoadMeasurement:
    """One contender's release under load."""

    contender: str
    version_from: str
    version_to: str
    ok: bool
    wall_s: float = 0.0
    requests: int = 0
    failed: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    longest_gap_s: float = 0.0
    load_s: float = 0.0
    versions: dict[str, int] = field(default_factory=dict)
    error: str = ""


class StartFirstContender(DockyardContender):
    """dockyard with `stacks[].up.start_first: [app]` in its deploy.yaml."""

    def __init__(self, ws: Workspace, server_url: str, server_home: Path) -> None:
        super().__init__(ws, server_url, server_home)
        self.name = "dockyard start-first"
        self.config = write_start_first_config(ws)

    @staticmethod
    def supported() -> bool:
        """Whether this dockyard knows `up.start_first` (the replacement engine, issue 22)."""
        return "start_first" in UpConfig.model_fields


def write_start_first_config(ws: Workspace) -> Path:
    """The bench deploy.yaml with the app replaced start-first."""
    doc = yaml.safe_load(ws.config.read_text())
    doc["stacks"][0].setdefault("up", {})["start_first"] = START_FIRST
    path = ws.root / "deploy-start-first.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def release_under_load(runner: Runner, contender: Contender, target: str) -> LoadMeasurement:
    """Deploy `target` with `contender` while the load runs; the load goes on until the app
    answers the new release (or READY_TIMEOUT) and SETTLE_SECONDS more, so an outage that
    outlasts the deploy command is counted too."""
    before = runner.current
    runner.engine.remove_images([image("app", target), image("migrator", target)])
    contender.setup(target)
    with LoadGenerator(VERSION_URL) as load:
        outcome = contender.deploy(target)
        ready = runner._ready(target, READY_TIMEOUT if outcome.done.ok else 0.0)
        time.sleep(SETTLE_SECONDS)
        seen = load.stop()
    runner.engine.end_leftovers(contender.remote_dir)
    ok = outcome.done.ok and ready is not None
    if ok:
        runner.current = target
    return LoadMeasurement(
        contender=contender.name,
        version_from=before,
        version_to=target,
        ok=ok,
        wall_s=round(outcome.done.seconds, 3),
        requests=seen.requests,
        failed=seen.failed,
        by_outcome=seen.by_outcome,
        longest_gap_s=seen.longest_gap_s,
        load_s=seen.seconds,
        versions=seen.versions,
        error="" if ok else outcome.done.tail(4),
    )


def run(runner: Runner, contenders: list[Contender], rounds: int) -> list[LoadMeasurement]:
    """Each contender: stage v1 with itself, then `rounds` releases v1 -> v2 under load."""
    results: list[LoadMeasurement] = []
    for contender in contenders:
        if isinstance(contender, StartFirstContender) and not contender.supported():
            results.append(
                LoadMeasurement(contender.name, "v1", "v2", False, error="not supported: this "
                                "dockyard has no stacks[].up.start_first (issue 22's engine)")
            )  # fmt: skip
            runner.say(f"  {contender.name}: not supported by this dockyard (no up.start_first)")
            continue
        for _ in range(rounds):
            runner.current = "v1"
            try:
                runner.set_stage(contender)
            except StageFailed as exc:
                results.append(LoadMeasurement(contender.name, "v1", "v2", False, error=str(exc)))
                runner.say(f"  {contender.name}: stage not set: {exc}")
                break
            m = release_under_load(runner, contender, "v2")
            runner.say(
                f"  {contender.name}: v1->v2 {m.wall_s:.1f}s, {m.failed}/{m.requests} failed "
                f"{m.by_outcome}, longest gap {m.longest_gap_s:.2f}s"
                + ("" if m.ok else f" FAILED ({m.error.splitlines()[-1:]})")
            )
            results.append(m)
    return results


def markdown(rows: list[LoadMeasurement]) -> str:
    """The load table for results-load.md and the README."""
    lines = [
        f"load: GET /version through the router at {RATE:.0f}/s, {TIMEOUT:.0f} s timeout each, "
        "from the deploy's start until the new release answers + 1 s; failed = connection "
        "errors, 5xx, timeouts; gap = longest time between two successful answers.",
        "",
        "| contender | ok | wall s | requests | failed | longest gap s | failures by kind |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        kinds = ", ".join(f"{k} {n}" for k, n in r.by_outcome.items() if k != "ok") or "-"
        if not r.ok and not r.requests:
            lines.append(f"| {r.contender} | no | - | - | - | - | {r.error[:80]} |")
            continue
        lines.append(
            f"| {r.contender} | {'yes' if r.ok else 'no'} | {r.wall_s:.1f} | {r.requests} | "
            f"{r.failed} | {r.longest_gap_s:.2f} | {kinds} |"
        )
    return "\n".join(lines) + "\n"


def write(rows: list[LoadMeasurement], meta: dict[str, Any], directory: Path) -> Path:
    """results-load.json and results-load.md under `directory`; returns the .md path."""
    directory.mkdir(parents=True, exist_ok=True)
    data = {"date": meta.get("date"), "machine": meta.get("machine"),
            "rows": [asdict(r) for r in rows]}  # fmt: skip
    (directory / "results-load.json").write_text(json.dumps(data, indent=2) + "\n")
    md = directory / "results-load.md"
    md.write_text("# dockyard release under load\n\n" + markdown(rows))
    return md
