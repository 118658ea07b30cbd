"""One host's deploy as its own Prefect flow run (a subflow of the deploy), one run per host."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow
from prefect.states import Failed

from dockyard.report import FAILED, SUCCEEDED, HostReport
from dockyard.session import DeployRequest, Loaded
from flows.hosts import HostRun, PerStack, Step, deploy_host


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
    report = deploy_host(job.make_step, job.request, job.loaded, host, job.per_stack)
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
