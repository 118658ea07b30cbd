"""The host run a pool worker does: load the deployment's config itself, deploy one host for
its parent deploy run, send the report."""

from __future__ import annotations

import os
import socket
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed

from dockyard.config import ConfigError
from dockyard.config.run_inputs import RunInputRefused, check_deployment_params
from dockyard.report import FAILED, SUCCEEDED, HostReport
from dockyard.session import DeployRequest, Loaded, load, set_secret_lookup
from flows.deploy import deploy_stack
from flows.host_flow import HOST_FLOW, pool_request, send_report
from flows.hosts import deploy_host
from flows.provenance import parent_deploy_run, this_origin
from flows.step_runner import StepRunner
from tasks.secrets import PrefectSecrets


@flow(name=HOST_FLOW, flow_run_name="deploy {host}", log_prints=False)
def pool_host_deploy(config_path: str, host: str, release: str, force: bool = False) -> Any:
    """Every stack on `host` for the deploy run that started this run, as a worker of the
    host's pool; the report goes back as an artifact; the run fails when the host did not
    succeed. The config is the deployment's own; the variables, actor and the runs whose
    leases it may take over are the parent deploy run's, read from the Prefect API."""
    try:
        request = _request(config_path, force)
    except RunInputRefused as exc:
        send_report(HostReport(host, FAILED, str(exc)))
        return Failed(message=f"{host}: {exc}")
    get_run_logger().info(f"{host}: deploy run {request.resumes[-1]}, on "
                          f"{socket.gethostname()} under worker pid {os.getppid()}")  # fmt: skip
    set_secret_lookup(PrefectSecrets())
    try:
        loaded = load(request)
    except ConfigError as exc:
        report = HostReport(host, FAILED, f"the worker cannot load {config_path}: {exc}")
    else:
        report = _deploy(request, loaded, host, release)
        report = loaded.masker.value(report)  # the artifact leaves dockyard: masked
    send_report(report)
    if report.result != SUCCEEDED:
        return Failed(message=f"{host}: {report.result}")
    return None


def _request(config_path: str, force: bool) -> DeployRequest:
    """This host run's request: the deployment's config, the parent deploy run's variables,
    actor and resumed runs (it may take over their leases and the parent's)."""
    origin = this_origin()
    if origin.deployment is not None:
        check_deployment_params({"config_path": config_path}, origin.pinned.get("config_path"),
                                origin.deployment)  # fmt: skip
    parent = parent_deploy_run()
    return pool_request(config_path, parent.variables, str(flow_run.get_id() or "local"),
                        parent.origin.actor, parent.run_id, list(parent.origin.resumes),
                        force, parent.approved_by)  # fmt: skip


def _deploy(request: DeployRequest, loaded: Loaded, host: str, release: str) -> HostReport:
    """Deploy `host` when it is a target and the worker's config is the deploy run's release
    (the mismatch names neither release: a caller may not learn the one to ask for)."""
    if host not in {t.name for t in loaded.config.targets}:
        return HostReport(host, FAILED, f"{host} is not a target of the worker's config")
    if loaded.release != release:
        return HostReport(host, FAILED, "the worker's config is not the deploy run's release: "
                          "give the workers the same config file, secrets and dockyard "
                          "checkout as the deployer")  # fmt: skip
    make_step = lambda r: StepRunner(r, loaded.config.steps)  # noqa: E731
    return deploy_host(make_step, request, loaded, host, deploy_stack)
