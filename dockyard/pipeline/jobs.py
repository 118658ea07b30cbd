"""One-off jobs before `up`, run detached on the host so they outlive a dead deployer.

A job's wrapper runs in its own session (setsid) and records pid + start ticks, its output and,
last, its exit status under .dockyard/jobs/<attempt>/<job>/. The deployer follows those files.
A later deployer of the same attempt finds a finished job (not run again), joins one still
running (never starts it twice), or reports one whose wrapper vanished without an exit."""

from __future__ import annotations

import time
from collections.abc import Callable

from dockyard.commands import hoststate
from dockyard.config import JobConfig
from dockyard.deadline import Deadline
from dockyard.errors import JobFailed
from dockyard.pipeline.bundle import release_project
from dockyard.pipeline.locking import runner
from dockyard.runner import Runner
from dockyard.session import HostStack

POLL = 1.0
CALL_CAP = 30.0
TAIL = 2000


def run_job(
    hs: HostStack,
    job: JobConfig,
    attempt: str,
    deadline: Deadline,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Run `job` once in `attempt` (or join/find its run) on the staged release (its compose
    files and .env), within `deadline`; raise JobFailed naming it, with the tail of its output.
    Returns that tail (masked)."""
    project = release_project(hs)
    if job.kind == "up-wait":
        argv = project.up_wait(job.service, wait_timeout=max(1.0, deadline.left() - 5))
    else:
        argv = project.run_job(job.service, job.command or ())
    job_dir = project.state.job_dir(attempt, job.name)
    run = runner(hs)
    wrapper = hoststate.job_wrapper(job_dir, argv, max(1, int(deadline.left())))
    started = run.run(hoststate.job_start(job_dir), deadline=deadline, cap=CALL_CAP,
                      stdin=wrapper.encode(), quiet=True).stdout.strip()  # fmt: skip
    name = f"job {job.name!r} ({job.kind} {job.service}) on {hs.target.name}"
    state, _, detail = started.partition(" ")
    if state == "RUNNING":
        hs.log(f"{name}: an earlier deployer's run is still going (pid {detail}): joining it")
    elif state == "EXIT" and detail == "0":
        hs.log(f"{name}: already finished in this attempt: not run again")
    elif state == "LOST":
        raise _lost(name, job_dir, detail)
    status = _follow(run, hs, job_dir, deadline, sleep) if state != "EXIT" else int(detail)
    tail = hs.mask(run.run(hoststate.job_output_tail(job_dir, TAIL), deadline=deadline,
                           cap=CALL_CAP, quiet=True).stdout)  # fmt: skip
    if status != 0:
        raise JobFailed(f"{name} exited {status}:\n{tail}")
    return tail


def _follow(
    run: Runner, hs: HostStack, job_dir: str, deadline: Deadline, sleep: Callable[[float], None]
) -> int:
    """Stream the job's output to the log until its exit status is written; return it."""
    offset = 0
    while True:
        out = run.run(hoststate.job_poll(job_dir, offset), deadline=deadline, cap=CALL_CAP,
                      quiet=True).stdout  # fmt: skip
        line, _, output = out.partition("\n")
        offset += len(output.encode())
        for text in output.splitlines():
            hs.log(hs.mask(text))
        state, _, detail = line.strip().partition(" ")
        if state == "EXIT":
            return int(detail)
        if state == "LOST":
            raise _lost(f"job in {job_dir}", job_dir, detail)
        deadline.check(f"waiting for the job in {job_dir}")
        sleep(POLL)


def _lost(name: str, job_dir: str, started: str) -> JobFailed:
    when = time.strftime("%H:%M:%S UTC", time.gmtime(float(started))) if started else "?"
    return JobFailed(
        f"{name} was started at {when} and its wrapper is gone without an exit status (host "
        f"reboot or kill?): check what it did (output in {job_dir}/out), then remove {job_dir} "
        "to run it again"
    )
