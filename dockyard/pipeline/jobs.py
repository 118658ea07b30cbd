"""One-off jobs before `up`: start a service and wait healthy, or `compose run --rm` a command."""

from __future__ import annotations

from dockyard.config import JobConfig
from dockyard.deadline import Deadline
from dockyard.errors import JobFailed
from dockyard.pipeline.bundle import release_project
from dockyard.session import HostStack
from dockyard.ssh.errors import CommandFailed


def run_job(hs: HostStack, job: JobConfig, deadline: Deadline) -> str:
    """Run `job` on the staged release (its compose files and .env) within `deadline`; raise
    JobFailed naming it, with the tail of its output."""
    project = release_project(hs)
    if job.kind == "up-wait":
        argv = project.up_wait(job.service, wait_timeout=max(1.0, deadline.left() - 5))
    else:
        argv = project.run_job(job.service, job.command or ())
    try:
        result = hs.runner.run(argv, deadline=deadline)
    except CommandFailed as exc:
        raise JobFailed(
            f"job {job.name!r} ({job.kind} {job.service}) on {hs.target.name} exited "
            f"{exc.exit_status}:\n{hs.mask(exc.stderr_tail)}"
        ) from exc
    return hs.mask(result.stdout[-2000:])
