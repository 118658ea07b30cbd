"""Run one deploy step as a task with its configured policy, and record state, time, attempts."""

from __future__ import annotations

import time
from typing import Any

from prefect import Task

from dockyard.config import StepsConfig
from dockyard.report import HostReport, StepReport
from tasks.policy import attempts, options


class StepRunner:
    """Calls step tasks for one host and appends a StepReport for each."""

    def __init__(self, report: HostReport, steps: StepsConfig) -> None:
        self.report = report
        self.steps = steps

    def timeout(self, policy: str) -> float:
        return self.steps.policy(policy).timeout

    def __call__(
        self,
        name: str,
        task: Task[..., Any],
        *args: Any,
        policy: str = "",
        run_name: str | None = None,
        retries: int | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run `task` with the step policy `policy` (default: the step's own name)."""
        configured = task.with_options(**options(self.steps.policy(policy or name)))
        if retries is not None:
            configured = configured.with_options(retries=retries)
        if run_name:
            configured = configured.with_options(task_run_name=run_name)
        started = time.monotonic()
        state = configured(*args, return_state=True, **kwargs)
        seconds = round(time.monotonic() - started, 3)
        ran = attempts(state.state_details.task_run_id)
        self.report.steps.append(StepReport(name, state.name, seconds, ran))
        return state.result()
