"""The bench's per-phase profile: medians per step, pulls summed, runs without steps left out."""

from __future__ import annotations

from bench.profile import Span, critical_path_line, longest_chain, overlapping, profile_lines, spans
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


def timed(wall: float, steps: dict[str, tuple[float, float]]) -> Measurement:
    """A run with (start offset, seconds) per step."""
    m = run(wall, {name: seconds for name, (_, seconds) in steps.items()})
    m.step_starts = {name: start for name, (start, _) in steps.items()}
    return m


RELEASE = {  # verify, sync and two pulls at once after the plan; jobs wait for the pulls
    "plan": (0.0, 1.0),
    "verify": (1.0, 0.5),
    "sync": (1.0, 0.25),
    "pull app": (1.0, 2.0),
    "pull migrator": (1.002, 1.5),
    "job migrate": (3.0, 1.0),
    "up": (4.0, 3.0),
}


def test_overlapping_groups_the_steps_that_ran_at_once_and_leaves_lone_steps_out() -> None:
    groups = overlapping(spans(timed(9.0, RELEASE)))
    assert [[s.name for s in g] for g in groups] == [
        ["pull app", "sync", "verify", "pull migrator"]
    ]


def test_steps_that_touch_within_timer_rounding_or_take_no_time_do_not_overlap() -> None:
    steps = [Span("a", 0.0, 1.0), Span("b", 0.998, 1.0), Span("cached", 0.5, 0.0)]
    assert overlapping(steps) == []


def test_the_longest_chain_is_the_sequence_of_steps_with_the_most_seconds() -> None:
    chain = longest_chain(spans(timed(9.0, RELEASE)))
    assert [s.name for s in chain] == ["plan", "pull app", "job migrate", "up"]


def test_the_longest_chain_of_steps_all_one_after_another_is_all_of_them() -> None:
    steps = [Span("a", 0.0, 1.0), Span("b", 1.0, 0.5), Span("c", 1.6, 0.1)]
    assert longest_chain(steps) == steps


def test_the_profile_gives_the_critical_path_of_its_median_run() -> None:
    fast = {**RELEASE, "up": (4.0, 2.0)}
    runs = [timed(9.0, RELEASE), timed(8.0, fast), timed(20.0, RELEASE)]
    lines = profile_lines(runs, {"1": "release"})
    assert lines[1] == (
        "1 dockyard critical path (run of 9.00 s): in parallel: pull app, sync, verify, "
        "pull migrator (1.00-3.00 s); longest chain 7.00 s of 7.00 s: "
        "plan 1.00 > pull app 2.00 > job migrate 1.00 > up 3.00"
    )


def test_runs_without_start_offsets_get_no_critical_path() -> None:
    assert critical_path_line(run(3.0, {"plan": 1.0})) is None
    assert len(profile_lines([run(3.0, {"plan": 1.0})], {})) == 1
