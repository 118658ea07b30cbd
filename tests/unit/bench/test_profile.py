"""The bench's per-phase profile: medians per step, pulls summed, runs without steps left out."""

from __future__ import annotations

from bench.profile import profile_lines
from bench.runner import Measurement


def run(
    wall: float, steps: dict[str, float], ok: bool = True, contender: str = "dockyard"
) -> Measurement:
    return Measurement("1", contender, 0, "v1", "v1", ok, 0 if ok else 1, wall, step_times=steps)


def test_profile_gives_medians_slowest_first_with_pulls_summed_and_time_outside_steps() -> None:
    runs = [
        run(10.0, {"plan": 1.0, "up": 2.0, "pull a": 1.0, "pull b": 2.0}),
        run(12.0, {"plan": 1.5, "up": 3.0, "pull a": 1.0, "pull b": 1.0}),
        run(11.0, {"plan": 2.0, "up": 2.5, "pull a": 2.0, "pull b": 2.0}),
    ]
    (line,) = profile_lines(runs, {"1": "no-op redeploy"})
    assert line == ("1 no-op redeploy, dockyard (3 run(s)): wall 11.00 s, outside steps 4.00 s; "
                    "pulls (sum) 3.00, up 2.50, plan 1.50")  # fmt: skip


def test_failed_runs_and_contenders_without_steps_are_left_out() -> None:
    runs = [run(5.0, {"plan": 1.0}, ok=False), run(2.0, {}, contender="targeted-shell")]
    assert profile_lines(runs, {}) == []
