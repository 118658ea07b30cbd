"""StepRunner: each step task runs with its configured policy and is reported with its state,
seconds and attempts (0 for a cached one), also when it fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from dockyard.config import StepsConfig
from dockyard.report import HostReport
from flows.step_runner import StepRunner
from tasks.outcome import Outcome


@dataclass
class State:
    name: str
    value: Any

    def result(self) -> Any:
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


@dataclass
class FakeTask:
    """A Prefect task as StepRunner uses it: with_options, then a call that returns a state."""

    name: str
    state: State
    options: dict[str, Any] = field(default_factory=dict)
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    def with_options(self, **options: Any) -> FakeTask:
        self.options.update(options)
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> State:
        self.calls.append((args, kwargs))
        return self.state


def runner(**steps: Any) -> StepRunner:
    return StepRunner(HostReport("vm1"), StepsConfig.model_validate(steps))


def test_a_step_runs_with_its_policy_and_is_reported() -> None:
    steps = runner(up={"retries": 4, "retry_delay": "3s"})
    task = FakeTask("up", State("Completed", Outcome(["changed"], 2)))
    assert steps(task, "request", "vm1", "shop") == ["changed"]
    assert task.options["retries"] == 4 and task.options["retry_delay_seconds"] == 3.0
    assert task.calls == [(("request", "vm1", "shop"), {"return_state": True})]
    report = steps.report.steps[0]
    assert (report.name, report.state, report.attempts) == ("up", "Completed", 2)


def test_label_retries_and_run_name_override_the_task_s_own() -> None:
    steps = runner()
    task = FakeTask("job", State("Completed", Outcome("ok", 1)))
    steps(task, label="job migrate", retries=0, run_name="job migrate on vm1")
    assert task.options["retries"] == 0 and task.options["task_run_name"] == "job migrate on vm1"
    assert steps.report.steps[0].name == "job migrate"


def test_a_cached_step_reports_no_attempt_and_says_it_was_cached() -> None:
    steps = runner()
    value, cached = steps.outcome(FakeTask("sync", State("Cached", Outcome([], 1))))
    assert cached and value == [] and steps.report.steps[0].attempts == 0


def test_a_failed_step_is_reported_with_its_tries_and_raises() -> None:
    error = RuntimeError("boom")
    error.attempts = 3  # type: ignore[attr-defined]
    steps = runner()
    with pytest.raises(RuntimeError, match="boom"):
        steps(FakeTask("health", State("Failed", error)))
    report = steps.report.steps[0]
    assert (report.name, report.state, report.attempts) == ("health", "Failed", 3)


def test_each_step_is_reported_with_its_start_offset_since_the_host_run_began(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([100.0, 100.5, 101.5, 102.0, 104.25])  # runner made; step 1; step 2
    monkeypatch.setattr("flows.step_runner.time.monotonic", lambda: next(clock))
    steps = runner()
    steps(FakeTask("verify", State("Completed", Outcome(None, 1))))
    steps(FakeTask("up", State("Completed", Outcome(None, 1))))
    timings = [(s.name, s.started, s.seconds) for s in steps.report.steps]
    assert timings == [("verify", 0.5, 1.0), ("up", 2.0, 2.25)]
