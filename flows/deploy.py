"""The deploy flow: the order of steps per host, pulls fanned out per image, rollback on failure."""

from __future__ import annotations

import contextvars
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run
from prefect.states import Failed

from dockyard import releases
from dockyard.config import StackConfig
from dockyard.report import (
    FAILED,
    ROLLED_BACK,
    SUCCEEDED,
    DeployReport,
    HostReport,
    ImageReport,
)
from dockyard.session import DeployRequest, load
from flows.steps import StepRunner
from tasks import host as host_tasks
from tasks import images as image_tasks
from tasks import release as release_tasks
from tasks import stack as stack_tasks

MAX_PARALLEL_HOSTS = 4


def _artifact_key(text: str) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")


def _in_thread(pool: ThreadPoolExecutor, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Submit with the caller's context, so tasks in the thread belong to this flow run."""
    return pool.submit(contextvars.copy_context().run, fn, *args, **kwargs)


def _pull_all(
    step: StepRunner,
    request: DeployRequest,
    host: str,
    stack: StackConfig,
    attempt: str,
    stack_plan: Any,
    report: HostReport,
) -> None:
    """One pull task per image, `images.parallel` at a time; a failed image fails the step."""
    to_pull = stack_plan.plan.to_pull()
    parallel = load(request).config.images.parallel
    timeout = step.timeout("pull")
    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="pull") as pool:
        futures = {
            d.image: _in_thread(pool, step, f"pull {d.ref.short}", image_tasks.pull_image,
                                request, host, stack.project, attempt, d.image, d, timeout,
                                policy="pull", run_name=f"pull {d.ref.short} on {host}")
            for d in to_pull
        }  # fmt: skip
        results = {image: f.exception() or f.result() for image, f in futures.items()}
    by_image = {i.image: i for i in report.images}
    cached = {s.name for s in report.steps if s.state == "Cached"}
    errors = []
    for decision in to_pull:
        result = results[decision.image]
        if isinstance(result, BaseException):
            errors.append(result)
        elif f"pull {decision.ref.short}" not in cached:
            by_image[decision.image].bytes = result.bytes
            by_image[decision.image].seconds = result.seconds
    if errors:
        raise errors[0]


def _deploy_stack(
    step: StepRunner, request: DeployRequest, host: str, stack: StackConfig, report: HostReport
) -> None:
    """Every step for one stack on one host; rollback if something fails after `up` began and
    before health passed. Jobs not marked rerun_safe are never retried (a migration runs once)."""
    p = stack.project
    timeout = step.timeout

    def run(name: str, task: Any, *args: Any, policy: str = "", **options: Any) -> Any:
        return step(name, task, request, host, p, *args, policy=policy, **options)

    locked = None
    history: list[releases.Release] = []
    may_roll_back = False
    try:
        facts = run("preflight", host_tasks.check_host, timeout("connect"), policy="connect")
        locked = run("lock", host_tasks.take_lock, timeout("lock"))
        if locked.note:
            report.notes.append(f"{p}: {locked.note}")
        attempt = locked.attempt
        stack_plan = run("plan", image_tasks.plan_images, timeout("verify"), policy="verify")
        report.images += [
            ImageReport(d.image, d.service, d.kind.value, d.action, d.reason)
            for d in stack_plan.plan.decisions
        ]
        run("verify", image_tasks.verify_images, attempt, stack_plan)
        run("sync", stack_tasks.sync_bundle, attempt, timeout("sync"))
        run("env", stack_tasks.write_env, attempt, timeout("env"))
        history = run("releases", release_tasks.read_releases, policy="record")
        keep = load(request).config.disk.keep_releases
        protected = sorted(
            {d.image for d in stack_plan.plan.decisions} | releases.kept_digests(history, keep)
        )
        run("disk", stack_tasks.disk_gate, facts, protected, timeout("disk"))
        _pull_all(step, request, host, stack, attempt, stack_plan, report)
        for job in stack.jobs:
            retries = job.retries if job.rerun_safe else 0
            run(f"job {job.name}", stack_tasks.run_job, attempt, job.name, policy="jobs",
                retries=retries)  # fmt: skip
        may_roll_back = True
        run("stop-first", stack_tasks.stop_first, attempt, timeout("up"), policy="up")
        run("up", stack_tasks.compose_up, attempt, history, timeout("up"))
        restarted = run("restarts", stack_tasks.gated_restarts, attempt, timeout("restarts"))
        report.notes += [f"restarted {s}: its config files changed" for s in restarted]
        run("health", release_tasks.health, stack_plan.resolved.active, timeout("health"))
        may_roll_back = False
        run("record", release_tasks.record_release, "succeeded", timeout("record"))
    except Exception as exc:
        _fail(run, step, load(request).masker, report, exc, history, may_roll_back)
        raise
    else:
        try:
            run("cleanup", release_tasks.cleanup, protected, timeout("cleanup"))
        except Exception as exc:
            report.notes.append(load(request).masker(f"cleanup failed (deploy stands): {exc}"))
    finally:
        if locked is not None:
            _unlock(run, step, load(request).masker, report, p)


def _unlock(run: Any, step: StepRunner, masker: Any, report: HostReport, project: str) -> None:
    """Release the stack's lock; a failed unlock fails the host (the lock is left behind, so the
    next deploy waits for it or takes it over) and stops its later stacks."""
    try:
        run("unlock", host_tasks.release_lock, step.timeout("lock"), policy="lock")
    except Exception as exc:
        text = masker(f"unlock of {project} failed: {type(exc).__name__}: {exc}")
        if report.result == SUCCEEDED:
            report.result = FAILED
            report.error = text
        else:
            report.notes.append(text)
        raise


def _fail(
    run: Any,
    step: StepRunner,
    masker: Any,
    report: HostReport,
    exc: BaseException,
    history: list[releases.Release],
    may_roll_back: bool,
) -> None:
    """Diagnostics, then rollback to the last good release if `up` had begun."""
    report.result = FAILED
    report.error = masker(f"{type(exc).__name__}: {exc}")
    try:
        report.diagnostics = run(
            "diagnostics", host_tasks.collect_diagnostics, report.error, policy="health"
        )
    except Exception as diag_exc:
        report.notes.append(f"diagnostics not collected: {diag_exc}")
    if not may_roll_back:
        return
    previous = releases.last_good(history)
    if previous is None:
        report.notes.append("no earlier good release on this host: nothing to roll back to")
        return
    try:
        notes = run("rollback", release_tasks.rollback, previous, step.timeout("up"), policy="up")
        report.notes += notes
        services = tuple(previous.images)
        health_timeout = step.timeout("health")
        run("health after rollback", release_tasks.health, services, health_timeout,
            policy="health")  # fmt: skip
        report.result = ROLLED_BACK
        report.notes.append(f"rolled back to release {previous.id} ({previous.time})")
        run("record", release_tasks.record_release, "rolled_back", step.timeout("record"))
    except Exception as rb_exc:
        report.notes.append(masker(f"rollback failed: {rb_exc}"))


def _deploy_host(request: DeployRequest, host: str) -> HostReport:
    """Each stack of the config in order on one host; stop at the first failed stack."""
    config = load(request).config
    report = HostReport(host)
    step = StepRunner(report, config.steps)
    for n, stack in enumerate(config.stacks):
        try:
            _deploy_stack(step, request, host, stack, report)
        except Exception:
            rest = [s.project for s in config.stacks[n + 1 :]]
            if rest:
                report.notes.append(f"not deployed (stack {stack.project} failed): "
                                    f"{', '.join(rest)}")  # fmt: skip
            break
    return report


@flow(name="dockyard-deploy", flow_run_name="deploy {config_path}", log_prints=False)
def deploy(
    config_path: str,
    variables: dict[str, str] | None = None,
    hosts: list[str] | None = None,
    actor: str = "unknown",
    resumes: list[str] | None = None,
) -> Any:
    """Deploy every stack of the config to its targets (in parallel); fail if any host failed."""
    run_id = str(flow_run.get_id() or "local")
    request = DeployRequest(config_path, dict(variables or {}), run_id, actor,
                            tuple(resumes or ()))  # fmt: skip
    loaded = load(request)
    names = [t.name for t in loaded.config.targets if not hosts or t.name in hosts]
    with ThreadPoolExecutor(max_workers=min(len(names), MAX_PARALLEL_HOSTS) or 1) as pool:
        futures = [_in_thread(pool, _deploy_host, request, name) for name in names]
        reports = [f.result() for f in futures]
    report = DeployReport(run_id, loaded.release, reports)
    create_markdown_artifact(report.to_markdown(), key="deploy-summary",
                             description="dockyard deploy summary")  # fmt: skip
    for host in reports:
        if host.diagnostics:
            create_markdown_artifact(
                f"```\n{host.diagnostics}\n```",
                key=_artifact_key(f"diagnostics-{host.host}"),
                description=f"diagnostics for {host.host}",
            )
    if report.failed_hosts:
        return Failed(message=f"deploy {report.result} on {', '.join(report.failed_hosts)}",
                      data=report.to_json())  # fmt: skip
    return report.to_json()
