"""The rollout's approval gate: pause the deploy run for a person's answer (Prefect's pause with
input: the UI shows the form), and roll back the hosts done when they reject."""

from __future__ import annotations

import math
import os
from dataclasses import replace

from prefect.context import FlowRunContext
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput

from dockyard import approval
from dockyard.approval import Approval, ApprovalNeedsServer
from dockyard.config import StackConfig
from dockyard.names import LOCAL_API_MARK
from dockyard.report import ROLLED_BACK, SUCCEEDED, HostReport
from dockyard.rollout import RolloutPlan
from dockyard.session import DeployRequest, Loaded
from flows.host_flow import HostJob, as_subflows
from flows.hosts import PerStack, Step
from flows.rollback import rollback_stack

POLL_SECONDS = 2  # how often the paused run asks the API whether it was resumed


class ApprovalForm(RunInput):
    """The form the Prefect UI shows on the paused run (and `dockyard approve` fills)."""

    approve: bool = False
    comment: str = ""
    approver: str = ""


class PauseGate:
    """Pauses the deploy run before a batch the plan has a person approve; once approved, the
    hosts after carry the approver into their release records (the job's request)."""

    def __init__(self, plan: RolloutPlan, job: HostJob) -> None:
        self.plan = plan
        self.job = job

    def ask(self, index: int, done: list[HostReport]) -> Approval:
        loaded = self.job.loaded
        diff = "\n\n".join(d for report in done for d in report.diffs)
        text = approval.description(loaded.release, self.plan.batches[index], done, diff)
        form = ApprovalForm.with_initial_data(description=loaded.masker(text), approve=False)
        timeout = max(1, math.ceil(self.plan.approve_timeout))
        try:
            got = pause_flow_run(wait_for_input=form, timeout=timeout, poll_interval=POLL_SECONDS,
                                 key=f"{approval.PAUSE_KEY}-{index}")  # fmt: skip
        except FlowPauseTimeout:
            _run_again()
            return Approval(False, "timeout", f"no answer within {timeout} s", timed_out=True)
        answer = approval.answer(got.approve, got.comment, got.approver)
        answer = replace(answer, comment=loaded.masker(answer.comment))
        if answer.approved:
            self.job.request = replace(self.job.request, approved_by=answer.actor)
        return answer

    def reject(self, done: list[HostReport]) -> list[HostReport]:
        """Each host done is rolled back (its own run) to the release it ran before, the stacks
        it left unchanged as they are."""
        reports = []
        for report in done:
            if report.result != SUCCEEDED or len(report.unchanged) == len(
                self.job.loaded.config.stacks
            ):
                reports.append(report)
                continue
            undone = as_subflows(HostJob(self.job.make_step, self.job.request, self.job.loaded,
                                         _undo_changed(report.unchanged)))(report.host)  # fmt: skip
            if undone.result == SUCCEEDED:
                undone.result = ROLLED_BACK
            undone.notes.insert(0, "the rollout was rejected after this host deployed")
            reports.append(undone)
        return reports


def _undo_changed(unchanged: list[str]) -> PerStack:
    """Roll back each stack of the host but those it left `unchanged`."""

    def per_stack(step: Step, request: DeployRequest, loaded: Loaded, host: str,
                  stack: StackConfig) -> None:  # fmt: skip
        if stack.project not in unchanged:
            rollback_stack(step, request, loaded, host, stack)

    return per_stack


def _run_again() -> None:
    """After a pause timed out the run is still paused: set it running, so that the rollback
    of the hosts done (tasks) may start."""
    from prefect.client.orchestration import get_client
    from prefect.states import Running

    context = FlowRunContext.get()
    if context is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(context.flow_run.id, Running(), force=True)


def gate_for(plan: RolloutPlan, job: HostJob) -> PauseGate | None:
    """The gate when the plan has a person approve a batch; refused without a Prefect server."""
    if not any(plan.asks_approval(i) for i in range(len(plan.batches))):
        return None
    has_server = bool(os.environ.get("PREFECT_API_URL")) and os.environ.get(LOCAL_API_MARK) != "1"
    if problem := approval.server_problem(plan.approve, has_server):
        raise ApprovalNeedsServer(problem)
    return PauseGate(plan, job)
