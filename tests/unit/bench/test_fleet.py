"""The fleet bench's table: ratios to one host's time and N times one host's bytes."""

from __future__ import annotations

from bench.fleet import FleetRun, table


def test_ratios_are_against_the_one_host_run_of_the_same_mode() -> None:
    one = FleetRun(1, "2 process workers", True, 20.0, {"vm3": 40_000_000}, {"vm3": 39_600_000})
    four = FleetRun(4, "2 process workers", True, 26.0,
                    {f"vm{n}": 40_000_000 for n in range(3, 7)})  # fmt: skip
    lines = table([one, four])
    assert lines[2] == "| 1 | 2 process workers | yes | 20.0 | 1.00 | 40.00-40.00 | 1.000 | 0.990 |"
    assert lines[3] == "| 4 | 2 process workers | yes | 26.0 | 1.30 | 40.00-40.00 | 1.000 | 0.000 |"


def test_a_failed_one_host_run_leaves_no_ratio() -> None:
    lines = table([FleetRun(1, "m", False, 5.0, {}), FleetRun(2, "m", True, 9.0, {"vm3": 1})])
    assert lines[2].endswith("| NO | 5.0 | - | 0.00-0.00 | - | - |")
    assert lines[3].endswith("| 9.0 | - | 0.00-0.00 | - | 0.000 |")
