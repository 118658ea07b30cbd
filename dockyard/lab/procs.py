"""Start lab daemons, record them by pid, and stop only the processes the lab started."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class LabProcessError(RuntimeError):
    """A lab daemon did not start, or did not answer in time."""


@dataclass(frozen=True)
class ManagedProcess:
    """A daemon the lab started: its role, pid and the argv it was started with."""

    role: str
    pid: int
    argv: tuple[str, ...]
    start_ticks: int

    def alive(self) -> bool:
        """True if this pid is still the process the lab started (same start time, not a zombie)."""
        stat = _stat(self.pid)
        return stat is not None and stat[0] != "Z" and stat[1] == self.start_ticks

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`; a no-op if the pid is gone or reused."""
        if not self.alive():
            return
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return
            time.sleep(0.1)
        os.kill(self.pid, signal.SIGKILL)


def spawn(
    role: str, argv: list[str], log: Path, env: dict[str, str] | None = None
) -> ManagedProcess:
    """Start `argv` detached (own session), stdout and stderr to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    stat = _stat(proc.pid)
    return ManagedProcess(role, proc.pid, tuple(argv), stat[1] if stat else -1)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a pid, or None if there is no such pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[19])


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(
    check: Callable[[], bool],
    what: str,
    proc: ManagedProcess,
    log: Path,
    timeout: float,
) -> None:
    """Poll `check()` until true; fail naming `what` and the log tail if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not proc.alive():
            raise LabProcessError(f"{what} exited during start-up; log {log}:\n{tail(log)}")
        time.sleep(0.1)
    raise LabProcessError(f"{what} did not become ready in {timeout:.0f}s; log {log}:\n{tail(log)}")


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, or a note that it is missing."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_checked(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """Run a short command with a bound; raise LabProcessError with its output on failure."""
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabProcessError(f"{' '.join(argv)} ran past {timeout}s") from exc
    if done.returncode != 0:
        raise LabProcessError(
            f"{' '.join(argv)} exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
        )
    return done.stdout


def require_programs(programs: tuple[str, ...], install: str, note: str = "") -> None:
    """Fail naming each of `programs` not on PATH and the `install` command that brings them
    (`note` follows the command)."""
    missing = [p for p in programs if not shutil.which(p)]
    if missing:
        raise LabProcessError(f"missing {', '.join(missing)}: run `{install}`{note}")
