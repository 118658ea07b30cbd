"""A host played by a real local `sh`: host-state scripts run as they would on a target, only
the SSH hop is left out (for the lock, journal, job and release-history tests)."""

from __future__ import annotations

import subprocess

from dockyard.deadline import Deadline
from dockyard.runner import Command
from dockyard.ssh.errors import CommandFailed
from dockyard.ssh.link import RunResult


class ShHost:
    """Runs each command with `sh -c` (bounded); takes both the Runner and the Link call forms."""

    def __init__(self) -> None:
        self.commands: list[str] = []

    def run(
        self,
        cmd: Command,
        *,
        deadline: Deadline | None = None,
        timeout: float | None = None,
        check: bool = True,
        stdin: bytes | None = None,
        cap: float | None = None,
        quiet: bool = False,
    ) -> RunResult:
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        self.commands.append(text)
        limit = deadline.left(cap) if deadline else (timeout or 30)
        done = subprocess.run(["sh", "-c", text], input=stdin or b"", capture_output=True,
                              timeout=limit)  # fmt: skip
        result = RunResult(done.returncode, done.stdout.decode(), done.stderr.decode())
        if check and done.returncode:
            raise CommandFailed("sh", text, done.returncode, result.stderr)
        return result

    def read_file(
        self, path: str, *, max_bytes: int, deadline: Deadline | None = None
    ) -> bytes | None:
        """The local file's first `max_bytes` bytes, None when it does not exist."""
        try:
            with open(path, "rb") as f:
                return f.read(max_bytes)
        except FileNotFoundError:
            return None
