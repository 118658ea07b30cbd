"""Remote commands over the link: each runs under a wrapper that records its process group, its
stdout/stderr stream line by line (masked) while stdin is fed, a command past its timeout or
past OUTPUT_CAP bytes of output has its process group killed, and env reaches it through a 0600
file, never its command line. Memory is bounded: each stream keeps its last OUTPUT_KEPT bytes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import paramiko

from dockyard.commands import remote
from dockyard.deadline import Deadline
from dockyard.masking import Masker
from dockyard.ssh.errors import (
    CommandFailed,
    CommandTimeout,
    LinkDown,
    LinkError,
    OutputTooLarge,
)
from dockyard.ssh.transport import Overdue, Session, file_errors

log = logging.getLogger(__name__)

POLL = 0.1
CHUNK = 32768
KILL_TIMEOUT = 15.0
STDERR_TAIL_LINES = 20
SHOWN_COMMAND_CHARS = 300
MASKED_MIN_CHARS = 4
OUTPUT_KEPT = 16 << 20  # per stream: RunResult holds this much of its end
OUTPUT_CAP = 256 << 20  # stdout + stderr of one command; past it the command is killed
LINE_CAP = 64 << 10  # a longer line is handed to on_output in pieces of this size

OutputCallback = Callable[[str, str], None]
Live = Callable[[float], Session]


@dataclass(frozen=True)
class RunResult:
    """A finished remote command: exit status and its output decoded as UTF-8 (whole up to
    OUTPUT_KEPT bytes per stream, else its end; `dropped` says how many bytes went)."""

    exit_status: int
    stdout: str
    stderr: str
    dropped: int = 0


class _Overflow(Exception):
    """The command's output passed OUTPUT_CAP."""


class _Lines:
    """One output stream of a command: its last OUTPUT_KEPT bytes kept, and handed to a
    callback line by line (a line over LINE_CAP in pieces)."""

    def __init__(self, name: str, on_output: OutputCallback | None, masker: Masker) -> None:
        self.name = name
        self.data = bytearray()
        self.total = 0
        self._on_output = on_output
        self._masker = masker
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.data += chunk
        if len(self.data) > 2 * OUTPUT_KEPT:  # trimmed in batches: amortised O(1) per byte
            del self.data[: len(self.data) - OUTPUT_KEPT]
        if self._on_output is not None:
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            for line in lines:
                self._emit(line)
            while len(self._partial) > LINE_CAP:
                self._emit(self._partial[:LINE_CAP])
                self._partial = self._partial[LINE_CAP:]

    @property
    def dropped(self) -> int:
        return self.total - min(len(self.data), OUTPUT_KEPT)

    def flush(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""

    def _emit(self, line: bytes) -> None:
        assert self._on_output is not None
        self._on_output(self.name, self._masker(line.decode("utf-8", "replace").rstrip("\r")))

    def text(self) -> str:
        return self.data[-OUTPUT_KEPT:].decode("utf-8", "replace")


class RemoteExec:
    """Runs commands on the connection `live(seconds_left)` hands out (rebuilt if it died)."""

    def __init__(self, label: str, live: Live) -> None:
        self.label = label
        self.live = live

    def run(
        self,
        cmd: str | list[str],
        *,
        timeout: float,
        on_output: OutputCallback | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        check: bool = True,
        kill_on_timeout: bool = True,
    ) -> RunResult:
        """See Link.run. Everything (connect, env file, channel, the command) fits in
        `timeout`; only the kill of an overdue command takes up to KILL_TIMEOUT more (the
        kill script itself is not killed again: kill_on_timeout=False)."""
        command = remote.command_line(cmd)
        masker = Masker(v for v in (env or {}).values() if len(v) >= MASKED_MIN_CHARS)
        shown = _shown(command, masker)
        deadline = Deadline(f"`{shown}`", timeout)
        token = secrets.token_hex(8)
        log.debug("%s: run `%s`", self.label, shown)
        try:
            session = self.live(deadline.left())
        except Overdue:
            raise CommandTimeout(self.label, shown, timeout, killed=True) from None
        try:
            if env:
                self._write_env(session, token, env, deadline)
            wrapped = remote.wrap(command, token, bool(env))
            status, out, err = self._stream(session, wrapped, deadline, on_output, stdin, masker)
        except Overdue:
            killed = kill_on_timeout and self._kill(token)
            raise CommandTimeout(self.label, shown, timeout, killed) from None
        except _Overflow:
            raise OutputTooLarge(self.label, shown, OUTPUT_CAP, self._kill(token)) from None
        result = RunResult(status, out.text(), err.text(), out.dropped + err.dropped)
        if check and status != 0:
            tail = "\n".join(masker(result.stderr).splitlines()[-STDERR_TAIL_LINES:])
            raise CommandFailed(self.label, shown, status, tail)
        return result

    def _stream(
        self,
        session: Session,
        wrapped: str,
        deadline: Deadline,
        on_output: OutputCallback | None,
        stdin: bytes | None,
        masker: Masker,
    ) -> tuple[int, _Lines, _Lines]:
        out, err = _Lines("stdout", on_output, masker), _Lines("stderr", on_output, masker)
        with session.slot(deadline.left()), session.guard("running a command"):
            channel = session.open_channel(deadline.left())
            try:
                with session.answer_within(channel, "an exec request", deadline.left()):
                    channel.exec_command(wrapped)
                status = _pump(channel, deadline, out, err, stdin or b"")
            finally:
                channel.close()
                out.flush()
                err.flush()
            if (not channel.eof_received or status < 0) and not session.settled_alive():
                raise LinkDown(self.label, f"{session.reason()} (while running)")
        return status, out, err

    def _kill(self, token: str) -> bool:
        """Kill the process group of the run that `token` names; True if it is gone."""
        try:
            result = self.run(
                remote.kill_script(token), timeout=KILL_TIMEOUT, check=False, kill_on_timeout=False
            )
        except LinkError as exc:
            log.warning("%s: could not kill a timed-out command: %s", self.label, exc)
            return False
        return result.exit_status == 0

    def _write_env(
        self, session: Session, token: str, env: Mapping[str, str], deadline: Deadline
    ) -> None:
        body = remote.env_file(env)
        path = remote.env_path(token)
        with file_errors(self.label, path), session.sftp(deadline.left) as sftp:
            try:
                sftp.chmod(remote.RUN_DIR, 0o700)
            except FileNotFoundError:
                sftp.mkdir(remote.RUN_DIR, 0o700)
            with sftp.open(path, "wx") as handle:
                handle.chmod(0o600)
                handle.write(body)


def _pump(
    channel: paramiko.Channel, deadline: Deadline, out: _Lines, err: _Lines, stdin: bytes
) -> int:
    """Feed stdin, read stdout and stderr until the command exits; its exit status (-1 if
    the channel closed without one). Overdue once the deadline passes, _Overflow once the
    output passes OUTPUT_CAP."""
    if not stdin:
        channel.shutdown_write()
    channel.settimeout(POLL)
    while True:
        while channel.recv_stderr_ready():
            err.feed(channel.recv_stderr(CHUNK))
            if out.total + err.total > OUTPUT_CAP:
                raise _Overflow
        if stdin and channel.send_ready():
            stdin = stdin[channel.send(stdin[:CHUNK]) :]
            if not stdin:
                channel.shutdown_write()
        if deadline.expired:
            raise Overdue
        try:
            data = channel.recv(CHUNK)
        except TimeoutError:
            continue
        if not data:
            break
        out.feed(data)
        if out.total + err.total > OUTPUT_CAP:
            raise _Overflow
    while True:
        while channel.recv_stderr_ready():
            err.feed(channel.recv_stderr(CHUNK))
            if out.total + err.total > OUTPUT_CAP:
                raise _Overflow
        if channel.exit_status_ready():
            return channel.exit_status
        if deadline.expired:
            raise Overdue
        channel.status_event.wait(POLL)


def _shown(command: str, masker: Masker) -> str:
    shown = masker(command)
    return shown if len(shown) <= SHOWN_COMMAND_CHARS else shown[:SHOWN_COMMAND_CHARS] + "..."
