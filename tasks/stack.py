"""Stack tasks: sync, env, disk gate, jobs, stop-before-up, up, restarts (cached per attempt)."""

from __future__ import annotations

from dockyard.deadline import Deadline
from dockyard.disk.gate import DiskGate
from dockyard.disk.ownership import read_ownership
from dockyard.disk.prune import PruneReport, ensure_space
from dockyard.pipeline import bundle, jobs, up
from dockyard.pipeline.preflight import HostFacts
from dockyard.session import DeployRequest
from tasks.context import stack_for
from tasks.policy import cached_step, current_deadline, fresh_step


@cached_step("sync", "sync {host}/{project}")
def sync_bundle(request: DeployRequest, host: str, project: str, attempt: str) -> list[str]:
    """Upload changed bundle files (sha256-verified)."""
    hs = stack_for(request, host, project)
    changed = bundle.sync(hs)
    hs.log(f"{len(changed)} file(s) changed: {', '.join(changed) or 'none'}")
    return changed


@cached_step("env", "env {host}/{project}")
def write_env(request: DeployRequest, host: str, project: str, attempt: str) -> str:
    """Write the stack's .env by SFTP, mode 0600."""
    return bundle.write_env(stack_for(request, host, project))


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
    return jobs.run_job(hs, job, deadline)


@cached_step("stop-first", "stop-before-up {host}/{project}")
def stop_first(request: DeployRequest, host: str, project: str, attempt: str) -> list[str]:
    """Stop services that race `up` (e.g. autoheal)."""
    return up.stop_first(stack_for(request, host, project), current_deadline().left())


@cached_step("up", "up {host}/{project}")
def compose_up(request: DeployRequest, host: str, project: str, attempt: str) -> None:
    """`compose up -d --wait` with --pull never (dockyard pulled already)."""
    up.up(stack_for(request, host, project), current_deadline())


@cached_step("restarts", "restarts {host}/{project}")
def gated_restarts(request: DeployRequest, host: str, project: str, attempt: str) -> list[str]:
    """Restart services whose watched config files changed."""
    return up.gated_restarts(stack_for(request, host, project), current_deadline().left())
