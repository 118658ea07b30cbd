"""Serve the deploy flow as Prefect deployments (one per stack config) and trigger runs of them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from prefect import serve
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

from dockyard.config import DeployConfig
from flows.deploy import deploy

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def deployment_name(config_path: str) -> str:
    """A deployment per config file: its stem, e.g. deploy.yaml -> deploy."""
    return Path(config_path).stem


def serve_config(config_path: str, config: DeployConfig, name: str | None = None) -> None:
    """Register and serve `dockyard-deploy/<name>` with the config's per-deploy variables as the
    parameter form's defaults; blocks until interrupted. The deployment pins the config path
    (a run naming another is refused) and runs one at a time: a second run waits for a slot
    instead of racing the first for the hosts' leases."""
    variables = {p.name: p.ref for p in config.per_deploy_images()}
    served = deploy.to_deployment(
        name=name or deployment_name(config_path),
        parameters={"config_path": str(Path(config_path).resolve()), "variables": variables},
        description=f"dockyard deploy of {', '.join(s.project for s in config.stacks)} "
        f"to {', '.join(t.name for t in config.targets)}",
        tags=["dockyard"],
        concurrency_limit=1,
    )
    serve(served, print_starting_message=True)


def trigger(deployment: str, variables: dict[str, str], wait: bool, timeout: float) -> Any:
    """Start a run of `deployment` (name `flow/deployment` or id); with `wait`, poll until it
    ends (each API call bounded by the client's timeout) and return the final flow run."""
    params: dict[str, Any] = {"variables": variables} if variables else {}
    if "/" not in deployment:
        deployment = f"{deploy.name}/{deployment}"
    run = run_deployment(deployment, parameters=params or None, timeout=0, as_subflow=False)
    if not wait:
        return run
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            run = client.read_flow_run(run.id)
            if run.state and run.state.type.value in FINAL:
                return run
            time.sleep(2)
    raise TimeoutError(f"flow run {run.id} did not finish within {timeout:.0f} s")
