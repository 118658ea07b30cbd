"""The HostStack a task works on, with remote output streamed into the task's log."""

from __future__ import annotations

from prefect import get_run_logger

from dockyard.session import DeployRequest, HostStack, host_stack


def stack_for(request: DeployRequest, host: str, project: str) -> HostStack:
    """The host/stack of this task run, logging (masked) to the Prefect task log."""
    logger = get_run_logger()
    return host_stack(request, host, project, log=logger.info)
