"""The host run a pool worker does: load the config itself, deploy one host, send the report."""

from __future__ import annotations

import os
import socket
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed

from dockyard.config import ConfigError
from dockyard.report import FAILED, SUCCEEDED, HostReport
from dockyard.session import load, set_secret_lookup
from flows.deploy import deploy_stack
from flows.host_flow import HOST_FLOW, pool_request, send_report
from flows.hosts import deploy_host
from flows.step_runner import StepRunner
from tasks.secrets import PrefectSecrets


@flow(name=HOST_FLOW, flow_run_name="deploy {host}", log_prints=False)
def pool_host_deploy(
    config_path: str,
    host: str,
    release: str,
    variables: dict[str, str] | None = None,
    parent_run_id: str = "",
    actor: str = "unknown",
    resumes: list[str] | None = None,
    force: bool = False,
) -> Any:
    """Every stack on `host` for deploy run `parent_run_id`, as a worker of the host's pool;
    the report goes back as an artifact; the run fails when the host did not succeed."""
    request = pool_request(config_path, variables or {}, str(flow_run.get_id() or "local"),
                           actor, parent_run_id, list(resumes or ()), force)  # fmt: skip
    get_run_logger().info(f"{host}: deploy run {parent_run_id or '-'}, on "
                          f"{socket.gethostname()} under worker pid {os.getppid()}")  # fmt: skip
    set_secret_lookup(PrefectSecrets())
    try:
        loaded = load(request)
    except ConfigError as exc:
        report = HostReport(host, FAILED, f"the worker cannot load {config_path}: {exc}")
    else:
        if loaded.release != release:
            report = HostReport(host, FAILED, f"the worker's {config_path} is release "
                                f"{loaded.release}, the deploy run's is {release}: give the "
                                "workers the same config and --set values")  # fmt: skip
        else:
            make_step = lambda r: StepRunner(r, loaded.config.steps)  # noqa: E731
            report = deploy_host(make_step, request, loaded, host, deploy_stack)
            report = loaded.masker.value(report)  # the artifact leaves dockyard: masked
    send_report(report)
    if report.result != SUCCEEDED:
        return Failed(message=f"{host}: {report.result}")
    return None
