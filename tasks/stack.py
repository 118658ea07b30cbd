"""Stack tasks: stage (sync, env), disk gate, jobs, stop-before-up, up (the release switch),
restarts (cached per release)."""

from __future__ import annotations

from dockyard.compose.oneshot import UpServices
from dockyard.deadline import Deadline
from dockyard.disk.gate import DiskGate
from dockyard.disk.ownership import read_ownership
from dockyard.disk.prune import PruneReport, ensure_space
from dockyard.pipeline import bundle, jobs, up
from dockyard.pipeline.preflight import HostFacts
from dockyard.releases import Release
from dockyard.session import DeployRequest
from tasks.context import stack_for
from tasks.policy import cached_step, current_deadline, fresh_step


@cached_step("sync", "sync {host}/{project}")
def sync_bundle(request: DeployRequest, host: str, project: str, attempt: str) -> list[str]:
    """Stage the release's bundle beside the live one (changed files only, sha256-verified);
    returns what `up` will change in the project directory."""
    hs = stack_for(request, host, project)
    runner, deadline = hs.runner, current_deadline()
    pending = bundle.sync(hs, runner, deadline)
    hs.log(f"staged release {hs.loaded.release}; {len(pending)} file(s) change at up: "
           f"{', '.join(pending) or 'none'}")  # fmt: skip
    return pending


@cached_step("env", "env {host}/{project}")
def write_env(request: DeployRequest, host: str, project: str, attempt: str) -> str:
    """Write the staged release's .env by SFTP, mode 0600."""
    hs = stack_for(request, host, project)
    return bundle.write_env(hs, hs.runner, current_deadline())


@fresh_step("disk", "disk gate {host}/{project}")
def disk_gate(
    request: DeployRequest, host: str, project: str, facts: HostFacts, protected: list[str]
) -> PruneReport:
    """Free space thresholds; prune only what dockyard owns, in steps (never what `protected`
    names, nor any stack's kept releases)."""
    hs = stack_for(request, host, project)
    disk = hs.config.disk
    deadline = current_deadline()
    ownership = read_ownership(hs.link, hs.config, protected, deadline)
    gate = DiskGate(disk.min_free_gb, disk.max_used_pct)
    return ensure_space(hs.runner, deadline, facts.data_root, gate, ownership, hs.log)


@cached_step("job", "job {subject} {host}/{project}")
def run_job(request: DeployRequest, host: str, project: str, attempt: str, subject: str) -> str:
    """One ordered one-off job (provision, migrate); done once per attempt. Its own `timeout`
    (jobs[].timeout) bounds it, within the step's."""
    hs = stack_for(request, host, project)
    job = next(j for j in hs.stack.jobs if j.name == subject)
    step = current_deadline()
    deadline = Deadline("job", min(job.timeout, step.left()))
    return jobs.run_job(hs, job, attempt, deadline)


@cached_step("stop-first", "stop-before-up {host}/{project}")
def stop_first(request: DeployRequest, host: str, project: str, attempt: str) -> list[str]:
    """Stop services that race `up` (e.g. autoheal)."""
    hs = stack_for(request, host, project)
    return up.stop_first(hs, hs.runner, current_deadline())


@cached_step("up", "up {host}/{project}")
def compose_up(
    request: DeployRequest, host: str, project: str, attempt: str, history: list[Release],
    starts: UpServices,
) -> up.UpResult:  # fmt: skip
    """Switch to the staged release, `compose up -d --wait` with --pull never (dockyard pulled
    already) of the long-running services and start the one-shots `starts` names, then drop
    release files past disk.keep_releases."""
    hs = stack_for(request, host, project)
    done = up.up(hs, hs.runner, current_deadline(), history, starts)
    hs.log(
        f"switched to release {hs.loaded.release}: {', '.join(done.changed) or 'no file changed'}"
    )
    if done.pruned:
        hs.log(f"removed the files of old release(s) {', '.join(done.pruned)}")
    return done


@cached_step("restarts", "restarts {host}/{project}")
def gated_restarts(request: DeployRequest, host: str, project: str, attempt: str) -> list[str]:
    """Restart services whose watched config files changed."""
    hs = stack_for(request, host, project)
    return up.gated_restarts(hs, hs.runner, current_deadline())
