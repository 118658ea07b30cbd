"""Stack tasks: sync, env, disk gate, jobs, stop-before-up, up, restarts (cached per release)."""

from __future__ import annotations

from dockyard import disk
from dockyard.pipeline import bundle, jobs, up
from dockyard.pipeline.preflight import HostFacts
from dockyard.session import DeployRequest
from tasks.context import stack_for
from tasks.policy import cached_step, fresh_step


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
    request: DeployRequest,
    host: str,
    project: str,
    facts: HostFacts,
    protected: list[str],
    timeout: float,
) -> disk.PruneReport:
    """Free space thresholds; prune in safe steps (never the stack's or kept releases' images)."""
    hs = stack_for(request, host, project)
    gate = disk.DiskGate(hs.config.disk.min_free_gb, hs.config.disk.max_used_pct)

    return disk.ensure_space(hs.runner(timeout), facts.data_root, gate, protected=set(protected),
                             project=project, say=hs.log)  # fmt: skip


@cached_step("job", "job {subject} {host}/{project}")
def run_job(request: DeployRequest, host: str, project: str, attempt: str, subject: str) -> str:
    """One ordered one-off job (provision, migrate); done once per release."""
    hs = stack_for(request, host, project)
    job = next(j for j in hs.stack.jobs if j.name == subject)
    return jobs.run_job(hs, job, attempt)


@cached_step("stop-first", "stop-before-up {host}/{project}")
def stop_first(
    request: DeployRequest, host: str, project: str, attempt: str, timeout: float
) -> list[str]:
    """Stop services that race `up` (e.g. autoheal)."""
    return up.stop_first(stack_for(request, host, project), timeout)


@cached_step("up", "up {host}/{project}")
def compose_up(request: DeployRequest, host: str, project: str, attempt: str) -> None:
    """`compose up -d --wait` with --pull never (dockyard pulled already)."""
    up.up(stack_for(request, host, project))


@cached_step("restarts", "restarts {host}/{project}")
def gated_restarts(
    request: DeployRequest, host: str, project: str, attempt: str, timeout: float
) -> list[str]:
    """Restart services whose watched config files changed."""
    return up.gated_restarts(stack_for(request, host, project), timeout)
