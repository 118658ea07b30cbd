"""One-off jobs before `up`, run detached on the host so they outlive a dead deployer.

A job's wrapper runs in its own session (setsid) and records pid + start ticks, its output and,
last, its exit status under .dockyard/jobs/<attempt>/<job>/. The deployer follows those files.
A later deployer of the same attempt finds a finished job (not run again), joins one still
running (never starts it twice), or reports one whose wrapper vanished without an exit."""

from __future__ import annotations

import time

from dockyard.commands.hoststate.jobs import JOB_CHUNK, job_poll, job_start, job_wrapper
from dockyard.config import JobConfig
from dockyard.deadline import Deadline
from dockyard.errors import JobFailed
from dockyard.pipeline.bundle import current_release, release_project
from dockyard.runner import Runner
from dockyard.session import HostStack

WAIT = 5.0
CALL_CAP = 30.0
TAIL = 2000


def run_job(hs: HostStack, job: JobConfig, attempt: str, deadline: Deadline) -> str:
    """Run `job` once in `attempt` (or join/find its run) in the staged release's files dir
    (its compose files, .env, env_file and bind-mounted files), within `deadline`; raise
    JobFailed naming it, with the tail of its output. Returns that tail (masked).

    Once a release runs, the services a job depends on were made by `up` in remote_dir: made
    again from the release's dir they would be recreated twice (now, and at `up`), so a `run`
    job leaves them be (--no-deps) and an `up-wait` job keeps existing containers
    (--no-recreate); on a first deploy compose starts them for the job as it would."""
    project = release_project(hs)
    run = hs.runner
    live = current_release(hs, run, deadline) is not None
    if job.kind == "up-wait":
        wait = max(1.0, deadline.left() - 5)
        argv = project.up_wait(job.service, wait_timeout=wait, no_recreate=live)
    else:
        argv = project.run_job(job.service, job.command or (), no_deps=live)
    job_dir = project.state.job_dir(attempt, job.name)
    wrapper = job_wrapper(job_dir, argv, max(1, int(deadline.left()))).encode()
    script = job_start(job_dir, len(wrapper), _wait(deadline), TAIL)
    out = run.run(script, deadline=deadline, cap=CALL_CAP, stdin=wrapper, quiet=True).stdout
    first, _, rest = out.partition("\n")
    name = f"job {job.name!r} ({job.kind} {job.service}) on {hs.target.name}"
    state, _, detail = first.strip().partition(" ")
    if state == "RUNNING":
        hs.log(f"{name}: an earlier deployer's run is still going (pid {detail}): joining it")
    elif state == "EXIT" and detail == "0":
        hs.log(f"{name}: already finished in this attempt: not run again")
    elif state == "LOST":
        raise _lost(name, job_dir, detail)
    if state == "EXIT":
        status, tail = int(detail), rest
    else:
        status, tail = _follow(run, hs, job_dir, deadline, rest)
    tail = hs.mask(tail[-TAIL:])
    if status != 0:
        raise JobFailed(f"{name} exited {status}:\n{tail}")
    return tail


def _wait(deadline: Deadline) -> float:
    """How long one round trip may wait on the host for the job's end."""
    return max(0.0, min(WAIT, deadline.left() - 5))


def _follow(
    run: Runner, hs: HostStack, job_dir: str, deadline: Deadline, polled: str
) -> tuple[int, str]:
    """Stream the job's output to the log until its exit status is written and its output
    read to the end; return the status and the output's tail. `polled` is the first answer."""
    offset, tail = 0, ""
    while True:
        line, _, output = polled.partition("\n")
        chunk = len(output.encode())
        offset += chunk
        tail = (tail + output)[-TAIL:]
        for text in output.splitlines():
            hs.log(hs.mask(text))
        state, _, detail = line.strip().partition(" ")
        if state == "EXIT" and chunk < JOB_CHUNK:
            return int(detail), tail
        if state == "LOST":
            raise _lost(f"job in {job_dir}", job_dir, detail)
        deadline.check(f"waiting for the job in {job_dir}")
        polled = run.run(job_poll(job_dir, offset, _wait(deadline)), deadline=deadline,
                         cap=CALL_CAP, quiet=True).stdout  # fmt: skip


def _lost(name: str, job_dir: str, started: str) -> JobFailed:
    when = time.strftime("%H:%M:%S UTC", time.gmtime(float(started))) if started else "?"
    return JobFailed(
        f"{name} was started at {when} and its wrapper is gone without an exit status (host "
        f"reboot or kill?): check what it did (output in {job_dir}/out), then remove {job_dir} "
        "to run it again"
    )
