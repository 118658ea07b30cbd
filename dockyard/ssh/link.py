"""One SSH link per target, the facade the rest of dockyard uses: strict host keys, keepalive with
dead-peer detection, rebuild on next use, commands with streaming/timeout/kill, SFTP with sha256
verification, and raw channels.

    transport  the connection: connect within a budget, keepalive watchdog, channel plumbing
    channel    ChannelSocket, a socket-like view of one channel
    execute    remote commands (RunResult): wrapper, streaming, stdin, kill on timeout, env file
    transfer   SFTP reads and checked installs of files and trees
    keys       host-key pinning and our private key
The shell text they run comes from dockyard.commands.remote."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from dockyard.ssh.channel import ChannelSocket
from dockyard.ssh.errors import LinkDown
from dockyard.ssh.execute import OutputCallback, RemoteExec, RunResult
from dockyard.ssh.settings import LinkSettings
from dockyard.ssh.transfer import Transfer
from dockyard.ssh.transport import Overdue, Session, connect

log = logging.getLogger(__name__)

__all__ = ["ChannelSocket", "Link", "OutputCallback", "RunResult"]


class Link:
    """A self-healing SSH connection to one target, safe to share between threads.

    A lost connection raises LinkDown from whatever call was using it; the next call builds a
    new one (`rebuilds` counts those). Every wait is bounded twice: by connect_timeout for
    connect, banner, auth and channel requests (past it the server is unresponsive), and by
    each call's own `timeout` for all of that call (reads of a ChannelSocket: per read)."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self.rebuilds = 0
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._lost: str | None = None
        self._commands = RemoteExec(settings.label, self._live)
        self._files = Transfer(self._commands)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def alive(self) -> bool:
        session = self._session
        return session is not None and session.alive()

    @property
    def connect_seconds(self) -> float | None:
        """How long the current connection took to connect, check the host key and auth."""
        session = self._session
        return session.connect_seconds if session else None

    def connect(self) -> None:
        """Connect now (or rebuild a dead connection) instead of at the first use."""
        wait = self.settings.connect_timeout
        try:
            self._live(wait)
        except Overdue:
            raise LinkDown(
                self.settings.label, f"another call kept connecting for {wait:g} s"
            ) from None

    def close(self) -> None:
        """Close the connection; a later call connects again (not counted as a rebuild)."""
        with self._lock:
            session, self._session, self._lost = self._session, None, None
        if session is not None:
            session.stop()

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self,
        cmd: str | list[str],
        *,
        timeout: float,
        on_output: OutputCallback | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        check: bool = True,
    ) -> RunResult:
        """Run a command, streaming its output lines to on_output("stdout"|"stderr", line).

        `env` reaches the command through a 0600 file that the command sources and deletes
        before it starts, never its command line. Values of env (4+ characters) are masked
        ("***") in streamed lines and in errors; RunResult keeps the output as it was (the
        last 16 MiB of each stream; `dropped` counts what went before).
        Raises LinkDown when the link is lost, CommandTimeout past `timeout` (connect, env
        file and channel included; killing the command's process group then takes up to
        KILL_TIMEOUT more), OutputTooLarge (killed) past 256 MiB of output, and
        CommandFailed on a non-zero exit when `check`."""
        return self._commands.run(
            cmd, timeout=timeout, on_output=on_output, env=env, stdin=stdin, check=check
        )

    def upload_file(
        self, local: Path, remote: str, mode: int = 0o644, *, timeout: float = 300
    ) -> None:
        """Upload one file: written under a temporary name, sha256-checked, then renamed."""
        self._files.upload_file(local, remote, mode, timeout)

    def write_file(
        self, remote: str, data: bytes, mode: int = 0o644, *, timeout: float = 120
    ) -> None:
        """Write bytes to a remote file (mode 0600 for env files) the same checked way.
        Past `timeout` it raises TransferTimeout; the stage is removed, the target untouched."""
        self._files.write_file(remote, data, mode, timeout)

    def upload_tree(
        self,
        local_dir: Path,
        remote_dir: str,
        *,
        mode_for: Callable[[str], int] | None = None,
        timeout: float = 600,
    ) -> list[str]:
        """Upload the files under local_dir whose sha256 or mode differs on the host.

        mode_for gets each file's relative POSIX path (default: 0755 if executable locally,
        else 0644). Returns the remote paths that changed; nothing on the host is deleted.
        Past `timeout` (all of it, not per file) it raises TransferTimeout."""
        return self._files.upload_tree(local_dir, remote_dir, mode_for, timeout)

    def read_file(
        self, remote: str, max_bytes: int = 1 << 20, *, timeout: float = 60
    ) -> bytes | None:
        """A small remote file's bytes, or None if it does not exist."""
        return self._files.read_file(remote, max_bytes, timeout)

    def open_stdio(self, command: str, *, timeout: float) -> ChannelSocket:
        """Start a command and return its stdin/stdout as a socket (e.g. docker dial-stdio).
        Starting it takes at most `timeout` (TimeoutError past it); so does each read."""
        with _socket_timeout(f"starting `{command}` on {self.settings.label}", timeout):
            session = self._live(timeout)
            channel = session.hold_channel(timeout)
            try:
                with (
                    session.guard(f"starting `{command}`"),
                    session.answer_within(channel, "an exec request", timeout),
                ):
                    channel.exec_command(command)
            except BaseException:
                session.release(channel)
                raise
        return ChannelSocket(session, channel, timeout)

    def open_direct_tcpip(self, host: str, port: int, timeout: float) -> ChannelSocket:
        """A connection to host:port as seen from the target (ConnectionRefusedError if the
        target cannot reach it, TimeoutError if opening it takes over `timeout`)."""
        with _socket_timeout(f"connecting to {host}:{port} via {self.settings.label}", timeout):
            session = self._live(timeout)
            channel = session.hold_channel(timeout, (host, port))
        return ChannelSocket(session, channel, timeout)

    def _live(self, wait: float) -> Session:
        """The current connection, rebuilt first if it died; Overdue if that (or another
        call's rebuild) takes more than `wait` seconds."""
        if not self._lock.acquire(timeout=max(0.0, wait)):
            raise Overdue
        try:
            old = self._session
            if old is not None and old.alive():
                return old
            if old is not None:
                self._lost = old.reason()
                old.stop()
                self._session = None
            new = connect(self.settings, wait)
            if self._lost is not None:
                self.rebuilds += 1
                log.warning(
                    "%s: rebuilt the link in %.2f s (was: %s)",
                    self.settings.label,
                    new.connect_seconds,
                    self._lost,
                )
                self._lost = None
            self._session = new
            return new
        finally:
            self._lock.release()


@contextlib.contextmanager
def _socket_timeout(what: str, timeout: float) -> Iterator[None]:
    """The caller's time running out while opening a socket-like channel is a TimeoutError,
    as it would be for a socket."""
    try:
        yield
    except Overdue:
        raise TimeoutError(f"{what} took over {timeout:g} s") from None
