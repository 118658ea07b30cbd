"""The start-first replacements of a stack, in dependency order, each its own step."""

from __future__ import annotations

from dockyard.images.resolve import ResolvedStack
from dockyard.session import DeployRequest
from flows.hosts import Step
from tasks import stack as stack_tasks


def replace_start_first(
    step: Step, request: DeployRequest, host: str, project: str, attempt: str,
    resolved: ResolvedStack,
) -> None:  # fmt: skip
    """One `replace SERVICE` step per start-first service (dependency order); its result
    becomes a report note."""
    for spec in resolved.start_first:
        done = step(stack_tasks.replace_service, request, host, project, attempt, spec.service,
                    spec, label=f"replace {spec.service}")  # fmt: skip
        step.report.notes.append(f"{project}: {done.note()}")
