"""Release tasks: health, release history, record, rollback, cleanup. Never cached."""

from __future__ import annotations

from dockyard.disk.prune import PruneReport
from dockyard.host import record, releases
from dockyard.host.releases import Release
from dockyard.host.rollback import restore
from dockyard.pipeline import checks, disk
from dockyard.session import DeployRequest
from tasks.context import current_deadline, current_stack
from tasks.policy import fresh_step


@fresh_step("health", "health {host}/{project}")
def health(
    request: DeployRequest, host: str, project: str, services: tuple[str, ...],
    one_shot: tuple[str, ...] = (),
) -> list[str]:  # fmt: skip
    """Compose health (a one-shot passes when it exited 0), HTTP readiness and hooks."""
    return checks.check(current_stack(), services, current_deadline(), one_shot)


@fresh_step("releases", "releases {host}/{project}")
def read_releases(request: DeployRequest, host: str, project: str) -> list[Release]:
    """The host's release records for this stack."""
    hs = current_stack()
    return releases.read_all(hs.runner, hs.project.state, current_deadline())


@fresh_step("record", "record {host}/{project}")
def record_release(
    request: DeployRequest, host: str, project: str, result: str, release_id: str | None = None,
    refs: dict[str, str] | None = None, one_shot: tuple[str, ...] = (),
) -> Release:  # fmt: skip
    """Append the release record (images by digest and config hash, the plan's `refs` and
    one-shot services, config hash, actor, run id, result) of this deploy's release, or of
    `release_id` (a rollback)."""
    hs = current_stack()
    return record.record(hs, release_id or hs.loaded.release, request.run_id, request.actor,
                         result, current_deadline(), refs, one_shot,
                         request.approved_by)  # fmt: skip


@fresh_step("rollback", "rollback {host}/{project}")
def rollback(request: DeployRequest, host: str, project: str, to: Release) -> list[str]:
    """Return the stack to release `to`: files, .env, service set, and by digest the images
    whose tag moved."""
    hs = current_stack()
    hs.log(f"rolling back to release {to.id} of {to.time}")
    notes = restore(hs, to, current_deadline())
    for note in notes:
        hs.log(note)
    return notes


@fresh_step("cleanup", "cleanup {host}/{project}")
def cleanup(request: DeployRequest, host: str, project: str, protected: list[str]) -> PruneReport:
    """Remove the untagged images dockyard pulled for its stacks, never those `protected`
    names, any stack's kept releases, or another project's."""
    return disk.cleanup(current_stack(), protected, current_deadline())
