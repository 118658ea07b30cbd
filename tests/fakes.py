"""Shared fakes for unit tests of pure logic: a Runner that records what it was asked."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.deadline import Deadline
from dockyard.runner import Command
from dockyard.ssh.errors import CommandFailed
from dockyard.ssh.link import RunResult

Reply = RunResult | Callable[[str, bytes | None], RunResult]


@dataclass
class FakeRunner:
    """Answers commands from `replies` (regex on the command text -> RunResult or a function of
    (command, stdin)), records every call in `asked`, and keeps written files in `files`."""

    replies: list[tuple[str, Reply]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    stdins: list[bytes | None] = field(default_factory=list)
    tunnels: dict[tuple[str, int], Any] = field(default_factory=dict)
    host: str = "fake"

    def on(self, pattern: str, reply: Reply | str, exit_status: int = 0) -> FakeRunner:
        """Answer commands matching `pattern` (first match wins) with `reply`."""
        if isinstance(reply, str):
            reply = RunResult(exit_status, reply, "")
        self.replies.append((pattern, reply))
        return self

    def run(
        self,
        cmd: Command,
        *,
        deadline: Deadline,
        check: bool = True,
        stdin: bytes | None = None,
        cap: float | None = None,
        quiet: bool = False,
    ) -> RunResult:
        deadline.check()
        text = cmd if isinstance(cmd, str) else " ".join(cmd)
        self.asked.append(text)
        self.stdins.append(stdin)
        result = RunResult(0, "", "")
        for pattern, reply in self.replies:
            if re.search(pattern, text):
                result = reply(text, stdin) if callable(reply) else reply
                break
        if check and result.exit_status != 0:
            raise CommandFailed(self.host, text, result.exit_status, result.stderr)
        return result

    def write_file(self, path: str, data: bytes, *, mode: int, deadline: Deadline) -> None:
        deadline.check()
        self.asked.append(f"write {path} {mode:o}")
        self.files[path] = data

    def read_file(self, path: str, *, max_bytes: int, deadline: Deadline) -> bytes | None:
        deadline.check()
        self.asked.append(f"read {path}")
        return self.files.get(path)

    def upload_tree(self, local_dir: Path, remote_dir: str, *, deadline: Deadline) -> list[str]:
        deadline.check()
        self.asked.append(f"upload {local_dir} {remote_dir}")
        return []

    def open_tunnel(
        self, host: str, port: int, *, deadline: Deadline, cap: float | None = None
    ) -> Any:
        """The channel `tunnels` holds for host:port; ConnectionRefusedError without one."""
        deadline.check()
        self.asked.append(f"tunnel {host}:{port}")
        if (host, port) not in self.tunnels:
            raise ConnectionRefusedError(f"{host}:{port} refused")
        return self.tunnels[(host, port)]
