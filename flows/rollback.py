"""Rollback: the one sequence that returns a stack to an earlier release, used by the deploy
flow (after a failed `up` or health) and by the `dockyard-rollback` flow behind the CLI."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run
from prefect.states import Failed

from dockyard import releases
from dockyard.config import StackConfig
from dockyard.report import FAILED, ROLLED_BACK, DeployReport
from dockyard.session import DeployRequest, Loaded, load, set_secret_lookup
from flows.hosts import Step, deploy_hosts
from flows.steps import StepRunner
from tasks import host as host_tasks
from tasks import release as release_tasks
from tasks.secrets import PrefectSecrets


def roll_back_to(
    step: Step, request: DeployRequest, host: str, project: str, to: releases.Release,
    record_as: str | None = None,
) -> None:  # fmt: skip
    """Back to release `to` (its files, .env, service set and digests), check its health, and
    record the outcome (the failed release as rolled back, or `record_as` succeeded)."""
    step.report.notes += step(release_tasks.rollback, request, host, project, to)
    one_shot = tuple(to.one_shot)
    services = tuple(dict.fromkeys([*to.images, *one_shot]))
    step(release_tasks.health, request, host, project, services, one_shot,
         label="health after rollback")  # fmt: skip
    if record_as is None:
        step(release_tasks.record_release, request, host, project, ROLLED_BACK)
    else:
        step(release_tasks.record_release, request, host, project, "succeeded", record_as,
             refs=dict(to.refs), one_shot=one_shot)  # fmt: skip


def rollback_stack(
    step: Step, request: DeployRequest, loaded: Loaded, host: str, stack: StackConfig,
    to: str | None = None,
) -> None:  # fmt: skip
    """Under the stack's lock: back to release `to`, or to the last good one before the
    current; fails (naming the host) when there is none."""
    report = step.report
    p = stack.project
    step(host_tasks.take_lock, request, host, p)
    try:
        history = step(release_tasks.read_releases, request, host, p)
        target = releases.rollback_target(history, to)
        if target is None:
            report.result = FAILED
            report.error = f"{p}: no release {to or 'before the current one'} to roll back to"
            raise LookupError(report.error)
        roll_back_to(step, request, host, p, target, record_as=target.id)
        report.notes.append(f"{p}: rolled back to release {target.id} ({target.time})")
    except Exception as exc:
        if not report.error:
            report.result = FAILED
            report.error = loaded.masker(f"{type(exc).__name__}: {exc}")
        raise
    finally:
        step(host_tasks.release_lock, request, host, p)


@flow(name="dockyard-rollback", flow_run_name="rollback {config_path}", log_prints=False)
def rollback(
    config_path: str,
    variables: dict[str, str] | None = None,
    hosts: list[str] | None = None,
    actor: str = "unknown",
    to: str | None = None,
) -> Any:
    """Return each host's stacks to release `to` (or the last good one before the current)."""
    run_id = str(flow_run.get_id() or "local")
    request = DeployRequest(config_path, dict(variables or {}), run_id, actor)
    set_secret_lookup(PrefectSecrets())
    loaded = load(request)
    names = [t.name for t in loaded.config.targets if not hosts or t.name in hosts]

    def per_stack(step: Step, request: DeployRequest, loaded: Loaded, host: str,
                  stack: StackConfig) -> None:  # fmt: skip
        rollback_stack(step, request, loaded, host, stack, to)

    reports = deploy_hosts(lambda r: StepRunner(r, loaded.config.steps), request, loaded, names,
                           per_stack)  # fmt: skip
    report = DeployReport(run_id, to or "previous", reports)
    if report.failed_hosts:
        return Failed(message=f"rollback failed on {', '.join(report.failed_hosts)}",
                      data=report.to_json())  # fmt: skip
    return report.to_json()
