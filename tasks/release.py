"""Release tasks: health, release history, record, rollback, cleanup. Never cached."""

from __future__ import annotations

from dockyard import releases
from dockyard.disk.ownership import read_ownership
from dockyard.disk.prune import PruneReport
from dockyard.disk.prune import cleanup as remove_untagged
from dockyard.pipeline import checks, record
from dockyard.releases import Release
from dockyard.session import DeployRequest
from tasks.context import stack_for
from tasks.policy import current_deadline, fresh_step


@fresh_step("health", "health {host}/{project}")
def health(
    request: DeployRequest, host: str, project: str, services: tuple[str, ...],
    one_shot: tuple[str, ...] = (),
) -> list[str]:  # fmt: skip
    """Compose health (a one-shot passes when it exited 0), HTTP readiness and hooks."""
    return checks.check(stack_for(request, host, project), services, current_deadline(),
                        one_shot)  # fmt: skip


@fresh_step("releases", "releases {host}/{project}")
def read_releases(request: DeployRequest, host: str, project: str) -> list[Release]:
    """The host's release records for this stack."""
    hs = stack_for(request, host, project)
    return releases.read_all(hs.link, hs.project.state.root)


@fresh_step("record", "record {host}/{project}")
def record_release(
    request: DeployRequest, host: str, project: str, result: str, release_id: str | None = None,
    refs: dict[str, str] | None = None, one_shot: tuple[str, ...] = (),
) -> Release:  # fmt: skip
    """Append the release record (images by digest and config hash, the plan's `refs` and
    one-shot services, config hash, actor, run id, result) of this deploy's release, or of
    `release_id` (a rollback)."""
    hs = stack_for(request, host, project)
    return record.record(hs, release_id or hs.loaded.release, request.run_id, request.actor,
                         result, current_deadline(), refs, one_shot)  # fmt: skip


@fresh_step("rollback", "rollback {host}/{project}")
def rollback(request: DeployRequest, host: str, project: str, to: Release) -> list[str]:
    """Return the stack to release `to`: files, .env, service set and images by digest."""
    hs = stack_for(request, host, project)
    hs.log(f"rolling back to release {to.id} of {to.time}")
    notes = record.rollback(hs, to, current_deadline())
    for note in notes:
        hs.log(note)
    return notes


@fresh_step("cleanup", "cleanup {host}/{project}")
def cleanup(request: DeployRequest, host: str, project: str, protected: list[str]) -> PruneReport:
    """Remove the untagged images dockyard pulled for its stacks, never those `protected`
    names, any stack's kept releases, or another project's."""
    hs = stack_for(request, host, project)
    deadline = current_deadline()
    ownership = read_ownership(hs.link, hs.config, protected, deadline)
    return remove_untagged(hs.runner, deadline, ownership, hs.log)
