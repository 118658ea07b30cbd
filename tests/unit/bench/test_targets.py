"""Issue 21's targets from one run's figures: ratios to targeted-shell-wait and Ansible, floors,
the no-server overhead, the no-op, bytes, faults and CPU seconds (scenarios not run: not
measured)."""

from __future__ import annotations

from bench.figures import figures
from bench.results import markdown
from bench.runner import Measurement
from bench.scenarios import select
from bench.targets import targets


def m(scenario: str, contender: str, wall: float, ok: bool = True, cpu: float = 0.0,
      down: int = 0, needed: int = 0) -> Measurement:  # fmt: skip
    return Measurement(scenario, contender, 1, "v1", "v2", ok, 0 if ok else 1, wall, cpu_s=cpu,
                       bytes_down=down, needed_bytes=needed)  # fmt: skip


RUN = [
    m("1", "targeted-shell", 1.4),
    m("1", "dockyard", 0.9, cpu=0.4),
    m("1", "dockyard (ephemeral)", 1.2),
    m("2", "targeted-shell-wait", 4.0),
    m("2", "ansible", 17.0),
    m("2", "dockyard", 7.0, cpu=3.5, down=10_100_000, needed=10_000_000),
    m("2", "dockyard (ephemeral)", 9.0),
    m("3", "targeted-shell-wait", 8.0),
    m("3", "dockyard", 13.0, down=49_000_000, needed=49_000_000),
    m("4a", "dockyard", 4.0, down=10_000_000, needed=10_000_000),
    m("6", "dockyard", 8.0),
    m("6", "dockyard", 8.0, ok=False),
]


def found() -> dict[str, tuple[str, bool | None]]:
    rows = figures(select("1,2,3,4,5,6"), RUN)
    return {t.target.split(" (")[0]: (t.measured, t.met) for t in targets(rows)}


def test_release_ratios_to_the_waiting_script_and_to_ansible() -> None:
    got = found()
    assert got["new release at most 1.5x targeted-shell-wait"] == ("7.0 s vs 4.0 s: 1.75x", False)
    assert got["new release under half of Ansible"] == ("7.0 s vs 17.0 s: 0.41x", True)


def test_floors_use_bytes_over_the_link_rate_or_the_waiting_script_unthrottled() -> None:
    measured, met = found()["after a prune and throttled: at most 1.2x the floor + 3 s"]
    assert measured == ("3 13.0 s, limit 12.6 s (targeted-shell-wait 8.0 s); "
                        "4a 4.0 s, limit 4.2 s (floor 1.0 s)")  # fmt: skip
    assert met is False


def test_no_server_overhead_noop_bytes_faults_and_cpu() -> None:
    got = found()
    assert got["no server"] == ("1 1.2 s vs 0.9 s (+0.3 s); 2 9.0 s vs 7.0 s (+2.0 s)", False)
    assert got["no-op at or under targeted-shell"] == ("0.9 s vs 1.4 s: 0.64x", True)
    assert got["bytes exactly the need"] == ("highest 1.010 (scenario 2)", True)
    assert got["every fault scenario passes"] == ("6 1/2", False)
    assert got["the deployer's CPU seconds per host deploy reported"] == (
        "user+sys per deploy: 1 0.4 s, 2 3.5 s, 3 0.0 s, 4a 0.0 s, 6 0.0 s",
        True,
    )


def test_targets_of_scenarios_not_run_are_not_measured_and_the_table_says_so() -> None:
    rows = figures(select("1"), [m("1", "targeted-shell", 1.4), m("1", "dockyard", 1.5)])
    verdicts = {t.target: t.met for t in targets(rows)}
    assert verdicts["no-op at or under targeted-shell"] is False
    assert verdicts["new release at most 1.5x targeted-shell-wait"] is None
    meta = {"machine": {"nproc": 2, "cpu": "x", "memory_gib": 4, "kernel": "k"}, "date": "d",
            "rounds_note": "r", "duration_s": 1.0, "lab_dir": "/lab"}  # fmt: skip
    text = markdown(meta, rows)
    assert "| no-op at or under targeted-shell | 1.5 s vs 1.4 s: 1.07x | **no** |" in text
    assert "| new release at most 1.5x targeted-shell-wait | not measured | not measured |" in text
