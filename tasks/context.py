"""The HostStack a step task works on, logging (masked) into the task's Prefect log."""

from __future__ import annotations

from prefect import get_run_logger

from dockyard.session import DeployRequest, HostStack, host_stack, load


def stack_for(request: DeployRequest, host: str, project: str) -> HostStack:
    """The host/stack of this task run, logging (masked) to the Prefect task log."""
    logger = get_run_logger()
    masker = load(request).masker
    return host_stack(request, host, project, log=lambda line: logger.info(masker(line)))
