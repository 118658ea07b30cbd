"""`python -m bench`: run the scenarios for every contender on the lab and write the results."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import labsite, machine, playbook, results, underload
from bench.commands import run
from bench.contenders import ComposeUpReference, DockyardContender, ShellContender
from bench.engine import Engine, reset_remote_root
from bench.figures import WAIT, Figure, figures
from bench.floor import RegistrySizes
from bench.prefect_server import PrefectServer
from bench.proxy import BenchProxy
from bench.runner import POLLUTED, Entry, Measurement, Runner
from bench.scenarios import Kind, Scenario, select
from bench.workspace import REGISTRY_PORT, REPO, SSH_PORT, Workspace

PREFECT_PORT = 4310


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--rounds", type=int, help="rounds per scenario (default: 3 no-op, 2 rest)")
    parser.add_argument("--scenarios", help="comma list, e.g. 1,2,4 (4 = 4a and 4b); default all")
    parser.add_argument("--lab-dir", help="lab state dir (default $DOCKYARD_LAB_DIR or ./.lab)")
    parser.add_argument("--results-dir", type=Path, default=results.RESULTS_DIR)
    parser.add_argument("--keep-work", action="store_true", help="keep the temp work dir")
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        scenarios = select(args.scenarios)
    except ValueError as exc:
        parser.error(str(exc))

    signal.signal(signal.SIGTERM, _stop_on_term)
    started = time.monotonic()
    lab = labsite.start(labsite.choose_state_dir(args.lab_dir))
    print(f"[bench] lab at {lab.state_dir}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
    measurements: list[Measurement] = []
    loads: list[underload.LoadMeasurement] = []
    notes: list[str] = []
    scenario_seconds: dict[str, float] = {}
    engine = Engine(lab)
    try:
        ws = Workspace.create(work, lab)
        engine.compose_down(volumes=True)
        reset_remote_root()
        with (
            BenchProxy(REGISTRY_PORT, SSH_PORT) as proxy,
            RegistrySizes(lab.layout.ports.registry_direct) as sizes,
            PrefectServer(work / "prefect-server", PREFECT_PORT) as server,
        ):
            notes.append(f"bench Prefect server (127.0.0.1:{PREFECT_PORT}) started in "
                         f"{server.started_s:.1f} s")  # fmt: skip
            runner = Runner(ws, engine, proxy, sizes, say=_say)
            contenders = _contenders(ws, server)
            if "ansible" not in contenders:
                notes.append("the Ansible contender was left out: bench/.ansible-venv is "
                             "missing (`make bench` makes it)")  # fmt: skip
            for scenario in scenarios:
                _say(f"== scenario {scenario.key}: {scenario.title}")
                entries = _entries(scenario, contenders, args.rounds)
                scenario_started = time.monotonic()
                try:
                    if scenario.load:
                        loads += underload.run(runner, _load_contenders(ws, server, contenders),
                                               args.rounds or scenario.rounds)  # fmt: skip
                    else:
                        measurements += runner.scenario(scenario, entries)
                except Exception as exc:  # keep the other scenarios' figures
                    _say(traceback.format_exc())
                    notes.append(f"scenario {scenario.key} stopped: {type(exc).__name__}: {exc}")
                took = time.monotonic() - scenario_started
                scenario_seconds[scenario.key] = round(took, 1)
                _say(f"   (scenario {scenario.key} took {took:.0f} s)")
            if "ansible" in contenders:
                contenders["ansible"].stop()
        notes += _startup_notes(measurements, server.started_s)
    finally:
        with contextlib.suppress(Exception):
            engine.compose_down(volumes=True)
        reset_remote_root()
        if args.keep_work:
            print(f"[bench] work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    rows = figures(scenarios, measurements)
    meta = _meta(lab.state_dir, scenarios, args.rounds, time.monotonic() - started, notes, rows)
    meta["scenario_seconds"] = scenario_seconds
    json_path, md_path = results.write(meta, scenarios, rows, measurements, args.results_dir)
    print(md_path.read_text())
    print(f"[bench] wrote {json_path} and {md_path}")
    if loads:
        print(underload.write(loads, meta, args.results_dir).read_text())
    return 0


def _stop_on_term(_signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the bench's Prefect server, proxy and stacks stop too."""
    raise KeyboardInterrupt


def _contenders(ws: Workspace, server: PrefectServer) -> dict[str, Any]:
    contenders: dict[str, Any] = {
        "blanket": ShellContender("blanket", "blanket.sh", ws),
        "targeted": ShellContender("targeted-shell", "targeted.sh", ws),
        "wait": ShellContender(WAIT, "targeted.sh", ws, wait=True),
        "reference": ComposeUpReference(ws),
        "dockyard": DockyardContender(ws, server.url, server.home),
        "ephemeral": DockyardContender(ws, None, None),
    }
    if playbook.installed():
        contenders["ansible"] = playbook.AnsibleContender(ws)
    return contenders


def _load_contenders(ws: Workspace, server: PrefectServer, c: dict[str, Any]) -> list[Any]:
    """The release-under-load contenders: targeted-shell, dockyard, dockyard start-first."""
    start_first = underload.StartFirstContender(ws, server.url, server.home)
    return [c["targeted"], c["dockyard"], start_first]


def _entries(scenario: Scenario, c: dict[str, Any], rounds: int | None) -> list[Entry]:
    """Who runs in `scenario`: blanket, targeted-shell and dockyard; in every release and
    prune scenario also targeted-shell-wait; in the plain no-op, release and prune Ansible (when
    installed); in the plain no-op also `compose up -d` alone (reference); in the plain no-op
    and the plain new release one cold dockyard run in ephemeral mode (the no-op never starts
    Prefect, the release does)."""
    n = rounds or scenario.rounds
    entries = [Entry(c["blanket"], c["blanket"], n), Entry(c["targeted"], c["targeted"], n)]
    plain_noop = scenario.kind is Kind.NOOP and not (scenario.silent or scenario.idle_drop)
    plain_release = scenario.kind is Kind.RELEASE and not (scenario.throttle or scenario.flaky)
    plain_prune = scenario.kind is Kind.PRUNE and not scenario.throttle
    if scenario.kind is not Kind.NOOP:
        entries.append(Entry(c["wait"], c["wait"], n))
    if "ansible" in c and (plain_noop or plain_release or plain_prune):
        entries.append(Entry(c["ansible"], c["ansible"], n))
    if plain_noop:
        entries.append(Entry(c["reference"], c["targeted"], n))
    entries.append(Entry(c["dockyard"], c["dockyard"], n))
    if plain_noop or plain_release:
        entries.append(Entry(c["ephemeral"], c["dockyard"], 1))
    return entries


def _startup_notes(measurements: list[Measurement], server_start: float) -> list[str]:
    """Where dockyard's time outside its steps goes: importing Prefect and the flow in the CLI
    process, and in ephemeral mode starting a temporary server on a fresh database."""
    probe = run([sys.executable, "-c", "import prefect, flows.deploy"], 120, cwd=REPO)
    notes = []
    orchestration = sorted(
        m.orchestration_s
        for m in measurements
        if m.contender == "dockyard" and m.ok and m.orchestration_s is not None
    )
    if orchestration:
        notes.append(
            f"dockyard orchestration with a running server: median "
            f"{orchestration[len(orchestration) // 2]:.1f} s per deploy over all scenarios; of "
            f"that, importing prefect + the flow module in the CLI process alone takes "
            f"{probe.seconds:.1f} s (measured separately)"
        )
    for scenario in sorted({m.scenario for m in measurements}):
        cold = [
            m.wall_s
            for m in measurements
            if m.contender == "dockyard (ephemeral)" and m.scenario == scenario and m.ok
        ]
        warm = sorted(m.wall_s for m in measurements
                      if m.contender == "dockyard" and m.scenario == scenario and m.ok)  # fmt: skip
        if cold and warm:
            median = warm[len(warm) // 2]
            notes.append(
                f"scenario {scenario} in ephemeral mode (no PREFECT_API_URL, fresh PREFECT_HOME): "
                f"{cold[0]:.1f} s against {median:.1f} s with a running server, "
                f"{cold[0] - median:+.1f} s (the bench's own server needed {server_start:.1f} s "
                f"to start)"
            )
    return notes


def _meta(lab_dir: Path, scenarios: list[Scenario], rounds: int | None, seconds: float,
          notes: list[str], rows: list[Figure]) -> dict[str, Any]:  # fmt: skip
    per = ", ".join(f"{s.key}: {rounds or s.rounds}" for s in scenarios)
    polluted = any(POLLUTED in r.warnings for r in rows)
    if polluted:
        notes = [*notes, "the engine held 127.0.0.1:5000/dockyard/* images (another user of "
                 "the lab): layers shared with them were not downloaded, so bytes and pull "
                 "times are low; take final figures on a quiet lab"]  # fmt: skip
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine.describe(),
        "lab_dir": str(lab_dir),
        "rounds_note": f"per scenario {per}",
        "duration_s": round(seconds, 1),
        "polluted": polluted,
        "notes": notes,
    }


def _say(text: str) -> None:
    print(text, flush=True)


if __name__ == "__main__":
    sys.exit(main())
