"""Release tasks: health, record, rollback, cleanup. Never cached: each run must do them."""

from __future__ import annotations

from dockyard import releases
from dockyard.deadline import Deadline
from dockyard.disk.ownership import read_ownership
from dockyard.disk.prune import PruneReport
from dockyard.disk.prune import cleanup as remove_untagged
from dockyard.pipeline import checks, record
from dockyard.releases import Release
from dockyard.runner import LinkRunner
from dockyard.session import DeployRequest
from tasks.context import stack_for
from tasks.policy import fresh_step


@fresh_step("health", "health {host}/{project}")
def health(
    request: DeployRequest, host: str, project: str, services: tuple[str, ...], timeout: float
) -> list[str]:
    """Compose health, HTTP readiness and hooks."""
    return checks.check(stack_for(request, host, project), services, timeout)


@fresh_step("releases", "releases {host}/{project}")
def read_releases(request: DeployRequest, host: str, project: str) -> list[Release]:
    """The host's release records for this stack."""
    hs = stack_for(request, host, project)
    return releases.read_all(hs.link, hs.project.state.root)


@fresh_step("record", "record {host}/{project}")
def record_release(
    request: DeployRequest, host: str, project: str, result: str, timeout: float
) -> Release:
    """Append the release record (images by digest, config hash, actor, run id, result)."""
    hs = stack_for(request, host, project)
    return record.record(hs, hs.loaded.release, request.run_id, request.actor, result, timeout)


@fresh_step("rollback", "rollback {host}/{project}")
def rollback(request: DeployRequest, host: str, project: str, to: Release, timeout: float) -> None:
    """Return the stack to release `to`'s images, by digest."""
    hs = stack_for(request, host, project)
    hs.log(f"rolling back to release {to.id} of {to.time}")
    record.rollback(hs, to, timeout)


@fresh_step("cleanup", "cleanup {host}/{project}")
def cleanup(
    request: DeployRequest, host: str, project: str, protected: list[str], timeout: float
) -> PruneReport:
    """Remove the untagged images dockyard pulled for its stacks, never those `protected`
    names, any stack's kept releases, or another project's."""
    hs = stack_for(request, host, project)
    deadline = Deadline("cleanup", timeout)
    ownership = read_ownership(hs.link, hs.config, protected, deadline)
    return remove_untagged(LinkRunner(hs.link, hs.log, hs.mask), deadline, ownership, hs.log)
