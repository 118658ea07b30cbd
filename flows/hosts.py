"""Per host: the stacks in order; hosts by the rollout plan, one host's failure isolated.

Shared by the deploy and rollback flows; the step runner is a parameter, so the logic is tested
without Prefect (tests/unit/flows/test_flow_logic.py)."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Protocol

from dockyard.approval import Approval
from dockyard.config import RolloutConfig, StackConfig
from dockyard.masking import Masker
from dockyard.report import FAILED, NOT_STARTED, SUCCEEDED, HostReport
from dockyard.rollout import Batch, RolloutPlan, Verdict
from dockyard.session import DeployRequest, Loaded


class Step(Protocol):
    """What the flow needs of a step runner (flows.step_runner.StepRunner, or a test's fake)."""

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


HostRun = Callable[[str], HostReport]


class Gate(Protocol):
    """A person's go-ahead between batches (flows/approval.py pauses the run for it)."""

    def ask(self, index: int, done: list[HostReport]) -> Approval:
        """The answer for batch `index`, given the reports of the hosts done so far."""
        ...

    def reject(self, done: list[HostReport]) -> list[HostReport]:
        """Undo the hosts done so far after a rejection; their reports as they now stand."""
        ...


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _batch(plan: RolloutPlan, batch: Batch, run_host: HostRun, masker: Masker) -> list[HostReport]:
    """The batch's hosts, at most `plan.parallel` at once; one host's failure, even an
    unexpected one, never stops the others."""

    def one(name: str) -> HostReport:
        started = _now()
        try:
            report = run_host(name)
        except Exception as exc:
            report = HostReport(name, FAILED, masker(f"{type(exc).__name__}: {exc}"))
        report.started, report.finished = report.started or started, report.finished or _now()
        report.notes.append(f"rollout {batch.reason}")
        return report

    with ThreadPoolExecutor(max_workers=min(len(batch.hosts), plan.parallel)) as pool:
        futures = [in_thread(pool, one, name) for name in batch.hosts]
        return [f.result() for f in futures]


def roll_out(
    plan: RolloutPlan, run_host: HostRun, masker: Masker,
    sleep: Callable[[float], None] = time.sleep, gate: Gate | None = None,
) -> tuple[list[HostReport], list[str]]:  # fmt: skip
    """Batch by batch: each starts once the previous one finished, the plan says go on and,
    where the plan asks for it, the `gate` approved (`pause` seconds later); when it says stop
    or a person rejects, the hosts left are reported `not started` (after a rejection the
    gate rolls back the hosts done). Returns the host reports (in plan order) and the
    rollout's decisions."""
    reports: list[HostReport] = []
    decisions = [plan.max_failed_reason]
    for index, batch in enumerate(plan.batches):
        verdict = plan.after(index, [r.host for r in reports if r.result != SUCCEEDED])
        decisions.append(verdict.reason)
        if verdict.go and gate is not None and plan.asks_approval(index):
            approval = gate.ask(index, reports)
            decisions.append(approval.reason)
            if not approval.approved:
                reports = gate.reject(reports)
                waiting = tuple(h for b in plan.batches[index:] for h in b.hosts)
                verdict = Verdict(False, approval.reason, waiting)
        if not verdict.go:
            note = f"left on its release: {verdict.reason}"
            reports += [HostReport(host, NOT_STARTED, notes=[note]) for host in verdict.not_started]
            break
        if index and plan.pause:
            sleep(plan.pause)
        reports += _batch(plan, batch, run_host, masker)
    return reports, decisions


def in_process(
    make_step: Callable[[HostReport], Step], request: DeployRequest, loaded: Loaded,
    per_stack: PerStack,
) -> HostRun:  # fmt: skip
    """Run one host's stacks in this flow run (no subflow)."""
    return lambda host: deploy_host(make_step, request, loaded, host, per_stack)


def deploy_hosts(
    make_step: Callable[[HostReport], Step],
    request: DeployRequest,
    loaded: Loaded,
    names: list[str],
    per_stack: PerStack,
) -> list[HostReport]:
    """Every host in one batch in this flow run (rollout.parallel at once), no stop rule."""
    plan = RolloutPlan.make(names, RolloutConfig(parallel=loaded.config.rollout.parallel))
    return roll_out(plan, in_process(make_step, request, loaded, per_stack), loaded.masker)[0]
