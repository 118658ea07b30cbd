"""The one way the core calls a host: `Runner.run(argv, deadline=...)`, its file moves and its
TCP tunnels (HTTP checks), each within the step's deadline.

Commands come from the command layer (dockyard/commands/); a Runner executes them within the
step's deadline. LinkRunner runs them over the SSH link; tests use tests/fakes.FakeRunner."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from dockyard.commands.remote import command_line
from dockyard.deadline import Deadline
from dockyard.masking import Masker
from dockyard.ssh.errors import CommandTimeout
from dockyard.ssh.link import ChannelSocket, Link, RunResult

Command = list[str] | str
Log = Callable[[str], None]

__all__ = ["Command", "LinkRunner", "RunResult", "Runner"]


class Runner(Protocol):
    """Runs commands and moves files on one host, each call bounded by the step's deadline."""

    def run(
        self,
        cmd: Command,
        *,
        deadline: Deadline,
        check: bool = True,
        stdin: bytes | None = None,
        cap: float | None = None,
        quiet: bool = False,
    ) -> RunResult: ...

    def write_file(self, path: str, data: bytes, *, mode: int, deadline: Deadline) -> None: ...

    def read_file(self, path: str, *, max_bytes: int, deadline: Deadline) -> bytes | None: ...

    def upload_tree(self, local_dir: Path, remote_dir: str, *, deadline: Deadline) -> list[str]: ...

    def open_tunnel(
        self, host: str, port: int, *, deadline: Deadline, cap: float | None = None
    ) -> ChannelSocket: ...


class LinkRunner:
    """A Runner over a Link: output lines stream (masked) to `log`; a command that outlives the
    step's deadline is killed and surfaces as StepTimeout naming the step."""

    def __init__(self, link: Link, log: Log, masker: Masker) -> None:
        self.link = link
        self.log = log
        self.masker = masker

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
        on_output = None if quiet else self._stream
        with _within(deadline, self.masker(command_line(cmd)[:120])):
            return self.link.run(
                cmd, timeout=deadline.left(cap), check=check, stdin=stdin, on_output=on_output
            )

    def write_file(self, path: str, data: bytes, *, mode: int, deadline: Deadline) -> None:
        with _within(deadline, f"writing {path}"):
            self.link.write_file(path, data, mode=mode, timeout=deadline.left())

    def read_file(self, path: str, *, max_bytes: int, deadline: Deadline) -> bytes | None:
        with _within(deadline, f"reading {path}"):
            return self.link.read_file(path, max_bytes=max_bytes, timeout=deadline.left())

    def upload_tree(self, local_dir: Path, remote_dir: str, *, deadline: Deadline) -> list[str]:
        with _within(deadline, f"uploading to {remote_dir}"):
            return self.link.upload_tree(local_dir, remote_dir, timeout=deadline.left())

    def open_tunnel(
        self, host: str, port: int, *, deadline: Deadline, cap: float | None = None
    ) -> ChannelSocket:
        """A TCP connection to host:port as the host sees it (an HTTP check), opened within
        the deadline; OSError when the host cannot reach it."""
        deadline.check(f"connecting to {host}:{port}")
        return self.link.open_direct_tcpip(host, port, timeout=deadline.left(cap))

    def _stream(self, _stream: str, line: str) -> None:
        self.log(self.masker(line.rstrip()))


@contextmanager
def _within(deadline: Deadline, doing: str) -> Iterator[None]:
    """Check the deadline first; a link timeout that is the step's time running out surfaces
    as the step's StepTimeout (a shorter cap's timeout stays a CommandTimeout)."""
    deadline.check(doing)
    try:
        yield
    except CommandTimeout:
        if deadline.expired:
            raise deadline.timed_out(doing) from None
        raise
