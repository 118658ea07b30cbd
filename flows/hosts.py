"""Per host: the stacks in order, hosts in parallel, one host's failure isolated from the rest.

Shared by the deploy and rollback flows; the step runner is a parameter, so the logic is tested
without Prefect (tests/unit/test_flow_logic.py)."""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from dockyard.config import StackConfig
from dockyard.report import FAILED, SUCCEEDED, HostReport
from dockyard.session import DeployRequest, Loaded

MAX_PARALLEL_HOSTS = 4


class Step(Protocol):
    """What the flow needs of a step runner (flows.steps.StepRunner, or a test's fake)."""

    report: HostReport

    def __call__(self, task: Any, *args: Any, label: str | None = None,
                 retries: int | None = None, run_name: str | None = None,
                 **kwargs: Any) -> Any: ...  # fmt: skip

    def outcome(self, task: Any, *args: Any, label: str | None = None,
                retries: int | None = None, run_name: str | None = None,
                **kwargs: Any) -> tuple[Any, bool]: ...  # fmt: skip


def in_thread(pool: ThreadPoolExecutor, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Submit with the caller's context, so tasks in the thread belong to this flow run."""
    return pool.submit(contextvars.copy_context().run, fn, *args, **kwargs)


PerStack = Callable[[Step, DeployRequest, Loaded, str, StackConfig], None]


def deploy_host(
    make_step: Callable[[HostReport], Step], request: DeployRequest, loaded: Loaded, host: str,
    per_stack: PerStack,
) -> HostReport:  # fmt: skip
    """Each stack of the config in order on one host (`per_stack` does one); stop
    at the first failed stack and name the stacks that were not deployed."""
    report = HostReport(host)
    step = make_step(report)
    stacks = loaded.config.stacks
    for index, stack in enumerate(stacks):
        try:
            per_stack(step, request, loaded, host, stack)
        except Exception as exc:
            if report.result == SUCCEEDED:  # e.g. the unlock after a healthy deploy failed
                report.result = FAILED
                report.error = loaded.masker(f"{type(exc).__name__}: {exc}")
            rest = [s.project for s in stacks[index + 1 :]]
            if rest:
                report.notes.append(f"not deployed (an earlier stack failed): {', '.join(rest)}")
            break
    return report


def deploy_hosts(
    make_step: Callable[[HostReport], Step],
    request: DeployRequest,
    loaded: Loaded,
    names: list[str],
    per_stack: PerStack,
) -> list[HostReport]:
    """Every host in parallel (at most MAX_PARALLEL_HOSTS at once); one host's failure, even
    an unexpected one, never stops the others."""

    def one(name: str) -> HostReport:
        try:
            return deploy_host(make_step, request, loaded, name, per_stack)
        except Exception as exc:
            return HostReport(name, FAILED, loaded.masker(f"{type(exc).__name__}: {exc}"))

    with ThreadPoolExecutor(max_workers=min(len(names), MAX_PARALLEL_HOSTS) or 1) as pool:
        futures = [in_thread(pool, one, name) for name in names]
        return [f.result() for f in futures]
