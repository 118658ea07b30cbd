"""Run one deploy step as a task with its configured policy, and record state, time, attempts."""

from __future__ import annotations

import time
from typing import Any

from prefect import Task

from dockyard.config import StepsConfig
from dockyard.report import HostReport, StepReport
from tasks.outcome import Outcome
from tasks.policy import options


class StepRunner:
    """Calls step tasks for one host and appends a StepReport for each.

    The task's name is its step (and policy key); `label` names it in the report when one
    step runs several times (`pull IMAGE`, `job NAME`, `health after rollback`)."""

    def __init__(self, report: HostReport, steps: StepsConfig) -> None:
        self.report = report
        self.steps = steps
        self.began = time.monotonic()  # made per host run: step start offsets count from here

    def __call__(
        self,
        task: Task[..., Any],
        *args: Any,
        label: str | None = None,
        retries: int | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        return self.outcome(task, *args, label=label, retries=retries, run_name=run_name,
                            **kwargs)[0]  # fmt: skip

    def outcome(
        self,
        task: Task[..., Any],
        *args: Any,
        label: str | None = None,
        retries: int | None = None,
        run_name: str | None = None,
        **kwargs: Any,
    ) -> tuple[Any, bool]:
        """Run the step; returns its value and whether it came from the cache. `run_name`
        overrides the task's own run name (which names host and stack)."""
        name = label or task.name
        configured = task.with_options(**options(self.steps.policy(task.name)))
        if retries is not None:
            configured = configured.with_options(retries=retries)
        if run_name:
            configured = configured.with_options(task_run_name=run_name)
        started = time.monotonic()
        state = configured(*args, return_state=True, **kwargs)
        seconds = round(time.monotonic() - started, 3)
        offset = round(started - self.began, 3)
        cached = state.name == "Cached"
        try:
            outcome: Outcome = state.result()
        except Exception as exc:
            self.report.steps.append(
                StepReport(name, state.name, seconds, getattr(exc, "attempts", 1), offset)
            )
            raise
        self.report.steps.append(
            StepReport(name, state.name, seconds, 0 if cached else outcome.attempts, offset)
        )
        return outcome.value, cached
