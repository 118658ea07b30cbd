"""Detached job scripts: the wrapper a job runs in its own session, start-or-join, and poll."""

from __future__ import annotations

import posixpath

from dockyard.commands.shell import quote, take_stdin

JOB_CHUNK = 65536


def job_wrapper(job_dir: str, argv: list[str], timeout: int) -> str:
    """The script a detached job runs (own session): it records its pid and start ticks (so
    a later deployer tells it from a reused pid), runs the job bounded by `timeout`, and
    writes the exit status last (each through a `mktemp` file and `mv -T`)."""
    d = quote(job_dir)
    command = " ".join(quote(a) for a in argv)
    return (
        f"t=$(mktemp -- {d}/pid.XXXXXX) && "
        f'echo "$$ $(cut -d" " -f22 /proc/$$/stat)" > "$t" && mv -fT -- "$t" {d}/pid\n'
        f"date +%s > {d}/started\n"
        f"timeout {timeout} {command} > {d}/out 2>&1 < /dev/null\n"
        f's=$?; t=$(mktemp -- {d}/exit.XXXXXX) && echo $s > "$t" && mv -fT -- "$t" {d}/exit\n'
    )


def _job_state(d: str) -> str:
    """Print EXIT <status> if the job finished, RUNNING <pid> if its wrapper lives, else LOST."""
    return (
        f"if [ -f {d}/exit ]; then echo EXIT $(cat {d}/exit); "
        f"elif read pid ticks < {d}/pid 2>/dev/null && "
        f'[ "$(cut -d" " -f22 /proc/$pid/stat 2>/dev/null)" = "$ticks" ]; then echo RUNNING $pid; '
        f"elif [ -f {d}/exit ]; then echo EXIT $(cat {d}/exit); "
        f"else echo LOST $(cat {d}/started 2>/dev/null); fi"
    )


def _wait_for_end(d: str, wait: float) -> str:
    """sh: wait up to `wait` seconds (0.1 s steps) while the job has no exit status and its
    wrapper (same pid and start ticks) still lives."""
    return (
        f"i=0; while [ $i -lt {round(wait * 10)} ] && [ ! -f {d}/exit ] && "
        f"read pid ticks < {d}/pid 2>/dev/null && "
        f'[ "$(cut -d" " -f22 /proc/$pid/stat 2>/dev/null)" = "$ticks" ]; '
        "do sleep 0.1; i=$((i+1)); done"
    )


def _poll(d: str, offset: int, wait: float) -> str:
    """sh: wait for the job's end (at most `wait` s), print its state line (as _job_state's),
    then its output from byte `offset` (JOB_CHUNK bytes at most)."""
    return (
        f"{_wait_for_end(d, wait)}; {_job_state(d)}; "
        f"tail -c +{offset + 1} {d}/out 2>/dev/null | head -c {JOB_CHUNK}; true"
    )


def job_start(job_dir: str, size: int, wait: float, tail: int) -> str:
    """Start the job whose wrapper is on stdin (`size` bytes: a cut-off wrapper never runs, its
    job dir is removed so the next deployer starts it), unless this attempt already ran or runs
    it, and follow it in the same round trip.

    The first line is EXIT 0 (finished earlier: not run again; the last `tail` bytes of its
    output follow), RUNNING <pid> (an earlier deployer's run still going: join it), LOST
    (started, wrapper gone without an exit status) or STARTED. After RUNNING or STARTED comes
    what job_poll prints, from offset 0 after waiting up to `wait` s for the job's end. A
    failed earlier run is moved aside to <dir>.failed.<time> and the job starts again."""
    d = quote(job_dir)
    return (
        f"mkdir -p -- {quote(posixpath.dirname(job_dir))} && umask 077; "
        f"if [ -L {d} ]; then echo 'dockyard: {job_dir} is a symlink dockyard did not make' >&2; "
        "exit 4; fi; "
        f'if [ -f {d}/exit ] && [ "$(cat {d}/exit)" != 0 ]; then '
        f"mv -T -- {d} {d}.failed.$(date +%s).$$; fi; "
        f'if [ -d {d} ]; then s=$({_job_state(d)}); echo "$s"; case $s in '
        f"EXIT*) tail -c {tail} {d}/out 2>/dev/null ;; RUNNING*) {_poll(d, 0, wait)} ;; esac; "
        "exit 0; fi; "
        f"mkdir {d} && {{ {take_stdin(f'{d}/run.sh', size)} || {{ rm -rf -- {d}; exit 1; }}; }} && "
        f"setsid -f sh {d}/run.sh < /dev/null > /dev/null 2>&1; "
        f"i=0; while [ ! -f {d}/pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "
        f"echo STARTED; {_poll(d, 0, wait)}"
    )


def job_poll(job_dir: str, offset: int, wait: float) -> str:
    """Wait up to `wait` s for the job's end (returning as soon as it ends), then print its
    state line (as job_start's) and its output from byte `offset` (JOB_CHUNK bytes at most)."""
    return _poll(quote(job_dir), offset, wait)
