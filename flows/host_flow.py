"""One host's deploy as its own Prefect flow run, one run per host: a subflow of the deploy, or
a run of the `dockyard-host/<pool>` deployment that a worker of the target's pool does."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
)
from prefect.client.schemas.sorting import ArtifactSort
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.states import Failed

from dockyard.names import LOCAL_API_MARK
from dockyard.report import FAILED, SUCCEEDED, HostReport
from dockyard.session import DeployRequest, Loaded
from flows.hosts import HostRun, PerStack, Step, deploy_host

HOST_FLOW = "dockyard-host"
REPORT_ARTIFACT = "dockyard-host-report"
HOST_RUN_TIMEOUT = 6 * 3600.0  # how long the deploy run waits for one pool host run


class HostJob:
    """What a host run needs besides the host: kept opaque (slots, no __dict__) so Prefect
    stores it as a placeholder and the loaded config, with its secrets, never reaches the API."""

    __slots__ = ("loaded", "make_step", "per_stack", "request")

    def __init__(
        self, make_step: Callable[[HostReport], Step], request: DeployRequest, loaded: Loaded,
        per_stack: PerStack,
    ) -> None:  # fmt: skip
        self.make_step = make_step
        self.request = request
        self.loaded = loaded
        self.per_stack = per_stack


@flow(name="dockyard-host", flow_run_name="deploy {host}", log_prints=False,
      validate_parameters=False)  # fmt: skip
def host_deploy(host: str, job: HostJob) -> Any:
    """Every stack on `host`; the run fails (carrying the report) when the host did not succeed."""
    report = job.loaded.masker.value(
        deploy_host(job.make_step, job.request, job.loaded, host, job.per_stack)
    )  # the run's result leaves this process (Prefect's state): masked
    if report.result != SUCCEEDED:
        return Failed(message=f"{host}: {report.result}", data=report)
    return report


def as_subflows(job: HostJob) -> HostRun:
    """Run each host as a `dockyard-host` subflow run of the current flow run."""

    def run(host: str) -> HostReport:
        state = host_deploy(host, job, return_state=True)
        report = state.result(raise_on_failure=False)
        if isinstance(report, HostReport):
            return report
        return HostReport(host, FAILED, job.loaded.masker(f"host run crashed: {state.message}"))

    return run


def pool_parameters(request: DeployRequest, host: str, release: str) -> dict[str, Any]:
    """The parameters of `host`'s pool run: the config path is the deployment's own, as its
    worker sees it; variables, actor and resumed runs the run reads from this deploy run
    (flows/provenance.py); `release` makes the run refuse a config that differs from ours."""
    return {"host": host, "release": release, "force": request.force}


def pool_request(
    config_path: str, variables: Mapping[str, str], run_id: str, actor: str,
    parent_run_id: str, resumes: list[str], force: bool = False, approved_by: str = "",
) -> DeployRequest:  # fmt: skip
    """A pool host run's request: it leases the stacks as itself (its own run id, kept by a
    Retry of the run) and may take over a lease the deploy run or a run it resumes left; it
    records who approved its batch (`approved_by`)."""
    takeover = [*resumes, parent_run_id] if parent_run_id else list(resumes)
    return DeployRequest(config_path, dict(variables), run_id, actor, tuple(takeover), force,
                         approved_by)  # fmt: skip


def pools_usable(environ: Mapping[str, str]) -> bool:
    """Pool runs need a Prefect API that workers poll, not the CLI's one-run local API."""
    return bool(environ.get("PREFECT_API_URL")) and environ.get(LOCAL_API_MARK) != "1"


def send_report(report: HostReport) -> None:
    """Attach the host report to this flow run as an artifact: it reaches the deploy run
    through the API, whatever result storage the worker has."""
    Artifact(type=REPORT_ARTIFACT, key=None, description=f"dockyard report of {report.host}",
             data=asdict(report)).create()  # fmt: skip


def read_report(flow_run_id: UUID) -> HostReport | None:
    """The latest report a host run attached (a Retry attaches another), or None."""
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
                type=ArtifactFilterType(any_=[REPORT_ARTIFACT]),
            ),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    if not found:
        return None
    data = found[0].data
    return HostReport.from_json(json.loads(data) if isinstance(data, str) else data)


def as_pool_run(request: DeployRequest, loaded: Loaded, host: str, pool: str) -> HostReport:
    """Run `host` as a run of `dockyard-host/<pool>` linked to this flow run; wait for it
    (HOST_RUN_TIMEOUT) and take back its report."""
    params = pool_parameters(request, host, loaded.release)
    try:
        run = run_deployment(f"{HOST_FLOW}/{pool}", parameters=params,
                             flow_run_name=f"deploy {host}", timeout=HOST_RUN_TIMEOUT,
                             poll_interval=2, as_subflow=True)  # fmt: skip
    except ObjectNotFound:
        return HostReport(host, FAILED, f"no deployment {HOST_FLOW}/{pool} on the Prefect API: "
                          f"run `dockyard pool deploy --pool {pool} -c CONFIG` first")  # fmt: skip
    state = run.state
    if state is None or not state.is_final():
        return HostReport(host, FAILED, f"host run {run.id} on pool {pool} did not finish "
                          f"within {HOST_RUN_TIMEOUT:.0f} s (is a worker of pool {pool} "
                          "running?)")  # fmt: skip
    report = read_report(run.id)
    if report is None:
        return HostReport(host, FAILED, loaded.masker(f"host run {run.id} on pool {pool} ended "
                          f"{state.name} without a report: {state.message}"))  # fmt: skip
    return report


def per_target(job: HostJob, environ: Mapping[str, str] = os.environ) -> HostRun:
    """Each host as a pool run when its target names a pool and workers can be reached,
    else as a subflow (noted when a pool is set but there is no API to reach its workers)."""
    subflow = as_subflows(job)
    pools = {t.name: t.pool for t in job.loaded.config.targets if t.pool}
    usable = pools_usable(environ)

    def run(host: str) -> HostReport:
        pool = pools.get(host)
        if pool and usable:
            return as_pool_run(job.request, job.loaded, host, pool)
        report = subflow(host)
        if pool:
            report.notes.append(f"pool {pool} not used: no Prefect API its workers poll "
                                "(set PREFECT_API_URL); this run deployed the host")  # fmt: skip
        return report

    return run
