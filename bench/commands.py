"""Bounded subprocess runs that report exit code, output, wall time and CPU seconds."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

TIMED_OUT = 124


@dataclass(frozen=True)
class Completed:
    """One finished (or timed-out) command: exit code, output, seconds it took and the CPU
    seconds (user + sys) of the process and the descendants it waited for."""

    argv: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.code == 0

    def tail(self, lines: int = 8) -> str:
        """The last lines of stderr (else stdout), for error reports."""
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return "\n".join(text[-lines:])


def run(
    argv: Sequence[str],
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Completed:
    """Run `argv` with no stdin; a timeout kills its process group and gives exit code 124.
    CPU seconds are the growth of this process's RUSAGE_CHILDREN while `argv` ran (the bench
    runs its commands one at a time; detached daemons, e.g. an SSH ControlPersist master, are
    not counted)."""
    cpu_before = _children_cpu()
    started = time.monotonic()
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        code = process.returncode
    except subprocess.TimeoutExpired:
        _kill_group(process)
        stdout, stderr = process.communicate(timeout=10)
        stderr += f"\n[bench] timed out after {timeout:.0f}s"
        code = TIMED_OUT
    seconds = time.monotonic() - started
    return Completed(tuple(argv), code, stdout, stderr, seconds, _children_cpu() - cpu_before)


def run_checked(
    argv: Sequence[str], timeout: float, env: Mapping[str, str] | None = None
) -> Completed:
    """`run`, raising CommandFailed unless the exit code is 0."""
    done = run(argv, timeout, env)
    if not done.ok:
        raise CommandFailed(f"{' '.join(argv)} exited {done.code}: {done.tail()}")
    return done


class CommandFailed(RuntimeError):
    """A set-up command the bench relies on failed."""


def _children_cpu() -> float:
    """User + system CPU seconds of this process's waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGKILL the process group this module created for `process` (its pid is the group id)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
