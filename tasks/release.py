"""Release tasks: health, record, rollback, cleanup. Never cached: each run must do them."""

from __future__ import annotations

from dockyard import disk, releases
from dockyard.pipeline import checks, record
from dockyard.releases import Release
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
def rollback(
    request: DeployRequest, host: str, project: str, to: Release, timeout: float
) -> list[str]:
    """Return the stack to release `to`: files, .env, service set and images by digest."""
    hs = stack_for(request, host, project)
    hs.log(f"rolling back to release {to.id} of {to.time}")
    notes = record.rollback(hs, to, timeout)
    for note in notes:
        hs.log(note)
    return notes


@fresh_step("cleanup", "cleanup {host}/{project}")
def cleanup(
    request: DeployRequest, host: str, project: str, protected: list[str], timeout: float
) -> list[str]:
    """Remove dangling images, never those of the stack or of the kept releases."""
    hs = stack_for(request, host, project)
    return disk.remove_dangling(hs.runner(timeout), protected, hs.log)
