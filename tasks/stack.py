"""Stack tasks: stage (sync, env), disk gate, jobs, stop-before-up, up (the release switch),
restarts (cached per release)."""

from __future__ import annotations

from dockyard.compose.oneshot import UpServices
from dockyard.compose.startfirst import ReplaceSpec
from dockyard.deadline import Deadline
from dockyard.disk.prune import PruneReport
from dockyard.host.facts import HostFacts
from dockyard.host.releases import Release
from dockyard.pipeline import bundle, disk, jobs, replace, switch, up
from dockyard.session import DeployRequest
from tasks.context import current_deadline, current_stack
from tasks.policy import cached_step, fresh_step


@cached_step("sync", "sync {host}/{project}")
def sync_bundle(
    request: DeployRequest, host: str, project: str, attempt: str, linked: tuple[str, ...] = ()
) -> list[str]:
    """Stage the release's bundle beside the live one (changed files only, sha256-verified) and
    link its data dirs `linked` (plan found them) to remote_dir again; returns what `up` will
    change in the project directory."""
    hs = current_stack()
    runner, deadline = hs.runner, current_deadline()
    pending = bundle.sync(hs, runner, deadline)
    bundle.link_paths(hs, runner, deadline, linked)
    hs.log(f"staged release {hs.loaded.release}; {len(pending)} file(s) change at up: "
           f"{', '.join(pending) or 'none'}")  # fmt: skip
    return pending


@cached_step("env", "env {host}/{project}")
def write_env(request: DeployRequest, host: str, project: str, attempt: str) -> str:
    """Write the staged release's .env by SFTP, mode 0600."""
    hs = current_stack()
    return bundle.write_env(hs, hs.runner, current_deadline())


@fresh_step("disk", "disk gate {host}/{project}")
def disk_gate(
    request: DeployRequest, host: str, project: str, facts: HostFacts, protected: list[str]
) -> PruneReport:
    """Free space thresholds; prune only what dockyard owns, in steps (never what `protected`
    names, nor any stack's kept releases)."""
    return disk.gate(current_stack(), facts, protected, current_deadline())


@cached_step("job", "job {subject} {host}/{project}")
def run_job(request: DeployRequest, host: str, project: str, attempt: str, subject: str) -> str:
    """One ordered one-off job (provision, migrate); done once per attempt. Its own `timeout`
    (jobs[].timeout) bounds it, within the step's."""
    hs = current_stack()
    job = next(j for j in hs.stack.jobs if j.name == subject)
    step = current_deadline()
    deadline = Deadline("job", min(job.timeout, step.left()))
    return jobs.run_job(hs, job, attempt, deadline)


@cached_step("stop-first", "stop-before-up {host}/{project}")
def stop_first(request: DeployRequest, host: str, project: str, attempt: str) -> list[str]:
    """Stop services that race `up` (e.g. autoheal)."""
    hs = current_stack()
    return up.stop_first(hs, hs.runner, current_deadline())


@cached_step("replace", "replace {subject} {host}/{project}")
def replace_service(
    request: DeployRequest, host: str, project: str, attempt: str, subject: str,
    spec: ReplaceSpec,
) -> replace.Replaced:  # fmt: skip
    """Switch to the staged release (as `up` does; again is a no-op), then replace the
    start-first service `subject` new-beside-old, health-gated, the old one drained."""
    hs = current_stack()
    runner, deadline = hs.runner, current_deadline()
    switch.switch(hs, runner, deadline, hs.loaded.release)
    done = replace.replace_service(hs, runner, deadline, spec.service, spec.image, spec.replicas)
    hs.log(done.note())
    return done


@cached_step("up", "up {host}/{project}")
def compose_up(
    request: DeployRequest, host: str, project: str, attempt: str, history: list[Release],
    starts: UpServices,
) -> up.UpResult:  # fmt: skip
    """Switch to the staged release, `compose up -d --wait` with --pull never (dockyard pulled
    already) of the long-running services and start the one-shots `starts` names, then drop
    release files past disk.keep_releases."""
    hs = current_stack()
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
    hs = current_stack()
    return up.gated_restarts(hs, hs.runner, current_deadline())
