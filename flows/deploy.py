"""The deploy flow: the order of steps per host, pulls fanned out per image, rollback on failure.

The flow only orders steps: every remote action is a task (tasks/), every decision about the
host is core (dockyard/). `deploy_stack` and `deploy_host` take the step runner as a parameter,
so their logic (the rollback window, stack order, failed-host isolation) is tested without
Prefect (tests/unit/flows/test_flow_logic.py)."""

from __future__ import annotations

import re
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from dockyard.config import ConfigError, StackConfig, with_unset_per_deploy
from dockyard.config.run_inputs import check_deployment_params, check_run_choices, check_run_names
from dockyard.disk.prune import GateStillFails
from dockyard.host import releases
from dockyard.report import FAILED, ROLLED_BACK, DeployReport, ImageReport
from dockyard.rollout import RolloutPlan
from dockyard.session import DeployRequest, Loaded, load, set_secret_lookup
from flows.approval import gate_for
from flows.host_flow import HostJob, per_target
from flows.hosts import Step, roll_out
from flows.provenance import Origin, this_origin
from flows.release_path import stage_and_pull
from flows.replace import replace_start_first
from flows.rollback import roll_back_to
from flows.step_runner import StepRunner
from tasks import host as host_tasks
from tasks import images as image_tasks
from tasks import release as release_tasks
from tasks import review as review_tasks
from tasks import stack as stack_tasks
from tasks.secrets import PrefectSecrets


def _artifact_key(text: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def deploy_stack(
    step: Step, request: DeployRequest, loaded: Loaded, host: str, stack: StackConfig
) -> None:
    """Every step for one stack on one host; rollback if something fails after `up` began and
    before health passed. Jobs not marked rerun_safe are never retried (a migration runs once)."""
    report = step.report
    p = stack.project
    locked = None
    history: list[releases.Release] = []
    may_roll_back = False
    try:
        facts = step(host_tasks.check_host, request, host, p)
        verdict = step(host_tasks.converge_stack, request, host, p, facts)
        if verdict.unchanged:
            report.unchanged.append(p)
            report.notes.append(f"{p}: unchanged: {'; '.join(verdict.reasons)} (--force runs "
                                "every step)")  # fmt: skip
            return
        report.notes.append(f"{p}: changed: {'; '.join(verdict.reasons)}")
        locked = step(host_tasks.take_lock, request, host, p)
        if locked.note:
            report.notes.append(f"{p}: {locked.note}")
        attempt = locked.attempt
        stack_plan = step(image_tasks.plan_images, request, host, p)
        report.images += [
            ImageReport(d.image, d.service, d.kind.value, d.action, d.reason)
            for d in stack_plan.plan.decisions
        ]
        report.diffs.append(step(review_tasks.publish_diff, request, host, p, facts, stack_plan,
                                 label="diff"))  # fmt: skip
        protected = sorted({d.image for d in stack_plan.plan.decisions})
        history = stage_and_pull(step, request, loaded, host, stack, facts, stack_plan, attempt,
                                 protected)  # fmt: skip
        may_roll_back = True
        step(stack_tasks.stop_first, request, host, p, attempt)
        resolved = stack_plan.resolved
        replace_start_first(step, request, host, p, attempt, resolved)
        step(stack_tasks.compose_up, request, host, p, attempt, history, resolved.up)
        restarted = step(stack_tasks.gated_restarts, request, host, p, attempt)
        report.notes += [f"restarted {s}: its config files changed" for s in restarted]
        step(release_tasks.health, request, host, p, resolved.active, resolved.one_shot)
        may_roll_back = False
        refs = {s: d.image for d in stack_plan.plan.decisions for s in d.services}
        step(release_tasks.record_release, request, host, p, "succeeded", refs=refs,
             one_shot=resolved.one_shot)  # fmt: skip
    except Exception as exc:
        if isinstance(exc, GateStillFails):
            report.prunes.append(exc.prune.section(p, "disk gate"))
        _fail(step, request, loaded, host, p, exc, history, may_roll_back)
        raise
    else:
        try:
            cleaned = step(release_tasks.cleanup, request, host, p, protected)
            if cleaned.removed or cleaned.refused:
                report.prunes.append(cleaned.section(p, "cleanup"))
        except Exception as exc:
            report.notes.append(loaded.masker(f"cleanup failed (deploy stands): {exc}"))
    finally:
        if locked is not None:
            step(host_tasks.release_lock, request, host, p)


def _fail(
    step: Step,
    request: DeployRequest,
    loaded: Loaded,
    host: str,
    project: str,
    exc: BaseException,
    history: list[releases.Release],
    may_roll_back: bool,
) -> None:
    """Diagnostics, then rollback to the last good release if `up` had begun."""
    report = step.report
    report.result = FAILED
    report.error = loaded.masker(f"{type(exc).__name__}: {exc}")
    try:
        report.diagnostics = step(
            host_tasks.collect_diagnostics, request, host, project, report.error
        )
    except Exception as diag_exc:
        report.notes.append(loaded.masker(f"diagnostics not collected: {diag_exc}"))
    if not may_roll_back:
        return
    previous = releases.last_good(history)
    if previous is None:
        report.notes.append("no earlier good release on this host: nothing to roll back to")
        return
    try:
        roll_back_to(step, request, host, project, previous)
        report.result = ROLLED_BACK
        report.notes.append(f"rolled back to release {previous.id} ({previous.time})")
    except Exception as rb_exc:
        report.notes.append(loaded.masker(f"rollback failed: {rb_exc}"))


def _request(
    origin: Origin, config_path: str, variables: dict[str, str], actor: str | None,
    resumes: list[str] | None, force: bool,
) -> DeployRequest:  # fmt: skip
    """The run's request: a deployment's run deploys the deployment's own config, as the
    deployment (actor) and resuming nothing; the CLI's own run as its parameters say."""
    run_id = str(flow_run.get_id() or "local")
    if origin.deployment is None:
        return DeployRequest(config_path, variables, run_id, actor or "unknown",
                             tuple(resumes or ()), force)  # fmt: skip
    params = {"config_path": config_path, "actor": actor, "resumes": resumes}
    check_deployment_params(params, origin.pinned.get("config_path"), origin.deployment)
    return DeployRequest(config_path, variables, run_id, origin.actor, (), force)


@flow(name="dockyard-deploy", flow_run_name="deploy {config_path}", log_prints=False)
def deploy(
    config_path: str,
    variables: dict[str, str] | None = None,
    hosts: list[str] | None = None,
    actor: str | None = None,
    resumes: list[str] | None = None,
    force: bool = False,
) -> Any:
    """Deploy every stack of the config to its targets by the rollout policy, one flow run per
    host (a subflow, or a pool worker's run for a target with `pool`); fail if any host failed
    or was not started. A stack the host already runs as recorded is left as it is, unless
    `force`. A deployment's run may choose only per-deploy images, hosts and `force`
    (dockyard/config/run_inputs.py); `actor` and `resumes` are for the CLI's own runs."""
    origin = this_origin()
    request = _request(origin, config_path, dict(variables or {}), actor, resumes, force)
    run_id = request.run_id
    set_secret_lookup(PrefectSecrets())
    try:
        loaded = load(request)
    except ConfigError:
        if origin.deployment is not None:  # a forged variable is refused as such, not as bad config
            check_run_names(request.variables, list(with_unset_per_deploy(config_path, {}, {})))
        raise
    if origin.deployment is not None:
        check_run_choices(request.variables, hosts, loaded.config)
    names = [t.name for t in loaded.config.targets if not hosts or t.name in hosts]
    job = HostJob(lambda r: StepRunner(r, loaded.config.steps), request, loaded, deploy_stack)
    plan = RolloutPlan.make(names, loaded.config.rollout)
    reports, decisions = roll_out(plan, per_target(job), loaded.masker, gate=gate_for(plan, job))
    report = DeployReport(run_id, loaded.release, reports, decisions)
    mask = loaded.masker  # the report and artifacts leave dockyard: masked here, as a whole
    create_markdown_artifact(mask(report.to_markdown()), key="deploy-summary",
                             description="dockyard deploy summary")  # fmt: skip
    for host in reports:
        if host.diagnostics:
            create_markdown_artifact(
                mask(f"```\n{host.diagnostics}\n```"),
                key=_artifact_key(f"diagnostics-{host.host}"),
                description=f"diagnostics for {host.host}",
            )
    result = mask.value(report.to_json())
    if report.failed_hosts:
        return Failed(message=mask(f"deploy {report.summary()}"), data=result)
    return result
