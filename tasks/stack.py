"""Stack tasks: stage (sync, env), disk gate, jobs, stop-before-up, up (the release switch),
restarts (cached per release)."""

from __future__ import annotations

from dockyard import disk
from dockyard.deadline import Deadline
from dockyard.pipeline import bundle, jobs, switch, up
from dockyard.pipeline.preflight import HostFacts
from dockyard.releases import Release
from dockyard.runner import LinkRunner
from dockyard.session import DeployRequest, HostStack
from tasks.context import stack_for
from tasks.policy import cached_step, fresh_step


def _runner(hs: HostStack) -> LinkRunner:
    return LinkRunner(hs.link, hs.log, hs.loaded.masker)


@cached_step("sync", "sync {host}/{project}")
def sync_bundle(
    request: DeployRequest, host: str, project: str, attempt: str, timeout: float
) -> list[str]:
    """Stage the release's bundle beside the live one (changed files only, sha256-verified);
    returns what `up` will change in the project directory."""
    hs = stack_for(request, host, project)
    runner, deadline = _runner(hs), Deadline("sync", timeout)
    bundle.sync(hs, runner, deadline)
    pending = switch.changes(hs, runner, deadline, hs.loaded.release)
    hs.log(f"staged release {hs.loaded.release}; {len(pending)} file(s) change at up: "
           f"{', '.join(pending) or 'none'}")  # fmt: skip
    return pending


@cached_step("env", "env {host}/{project}")
def write_env(request: DeployRequest, host: str, project: str, attempt: str, timeout: float) -> str:
    """Write the staged release's .env by SFTP, mode 0600."""
    hs = stack_for(request, host, project)
    return bundle.write_env(hs, _runner(hs), Deadline("env", timeout))


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
    return jobs.run_job(hs, job)


@cached_step("stop-first", "stop-before-up {host}/{project}")
def stop_first(
    request: DeployRequest, host: str, project: str, attempt: str, timeout: float
) -> list[str]:
    """Stop services that race `up` (e.g. autoheal)."""
    hs = stack_for(request, host, project)
    return up.stop_first(hs, _runner(hs), Deadline("stop-first", timeout))


@cached_step("up", "up {host}/{project}")
def compose_up(
    request: DeployRequest,
    host: str,
    project: str,
    attempt: str,
    history: list[Release],
    timeout: float,
) -> up.UpResult:
    """Switch to the staged release, `compose up -d --wait` with --pull never (dockyard pulled
    already), then drop release files past disk.keep_releases."""
    hs = stack_for(request, host, project)
    done = up.up(hs, _runner(hs), Deadline("up", timeout), history)
    hs.log(
        f"switched to release {hs.loaded.release}: {', '.join(done.changed) or 'no file changed'}"
    )
    if done.pruned:
        hs.log(f"removed the files of old release(s) {', '.join(done.pruned)}")
    return done


@cached_step("restarts", "restarts {host}/{project}")
def gated_restarts(
    request: DeployRequest, host: str, project: str, attempt: str, timeout: float
) -> list[str]:
    """Restart services whose watched config files changed."""
    hs = stack_for(request, host, project)
    return up.gated_restarts(hs, _runner(hs), Deadline("restarts", timeout))
