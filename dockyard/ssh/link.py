"""One SSH link per target: strict host keys, keepalive with dead-peer detection, rebuild on next
use, commands with streaming/timeout/kill, SFTP with sha256 verification, and raw channels."""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import hashlib
import io
import logging
import os
import posixpath
import re
import secrets
import shlex
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from paramiko.common import cMSG_GLOBAL_REQUEST

from dockyard.ssh.errors import (
    AuthFailed,
    ChannelsBusy,
    CommandFailed,
    CommandTimeout,
    HostKeyRejected,
    LinkDown,
    LinkError,
    RemoteFileError,
)
from dockyard.ssh.settings import LinkSettings

log = logging.getLogger(__name__)

PROBE = "keepalive@openssh.com"
RUN_DIR = ".dockyard-run"
POLL = 0.1
CHUNK = 32768
SETTLE = 0.5
SFTP_REQUEST_TIMEOUT = 60.0
KILL_TIMEOUT = 15.0
STDERR_TAIL_LINES = 20
SHOWN_COMMAND_CHARS = 300
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

OutputCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class RunResult:
    """A finished remote command: exit status and its whole output, decoded as UTF-8."""

    exit_status: int
    stdout: str
    stderr: str


class _Overdue(Exception):
    """The command passed its deadline (internal: run() kills it and raises CommandTimeout)."""


class _ProbedTransport(paramiko.Transport):
    """A transport that notes when the server last answered a global request (our probe)."""

    def __init__(self, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(sock, **kwargs)
        self.last_answer = time.monotonic()

    def send_probe(self) -> None:
        """Send a want-reply `keepalive@openssh.com`; OpenSSH answers it at once."""
        message = paramiko.Message()
        message.add_byte(cMSG_GLOBAL_REQUEST)
        message.add_string(PROBE)
        message.add_boolean(True)
        self._send_user_message(message)

    def _parse_request_success(self, m: paramiko.Message) -> None:
        self.last_answer = time.monotonic()
        super()._parse_request_success(m)

    def _parse_request_failure(self, m: paramiko.Message) -> None:
        self.last_answer = time.monotonic()
        super()._parse_request_failure(m)


def _fatal(exc: BaseException | None) -> bool:
    """Whether a transport's saved exception means its connection is gone."""
    return exc is not None and not isinstance(
        exc, paramiko.ChannelException | paramiko.AuthenticationException
    )


class _Session:
    """One SSH connection of a link: transport, channel slots and the keepalive watchdog."""

    def __init__(self, settings: LinkSettings, client: paramiko.SSHClient, seconds: float) -> None:
        self.settings = settings
        self.client = client
        transport = client.get_transport()
        assert isinstance(transport, _ProbedTransport)
        self.transport = transport
        self.slots = threading.BoundedSemaphore(settings.max_channels)
        self.connect_seconds = seconds
        self.death: str | None = None
        self._stopped = threading.Event()
        if settings.keepalive_interval > 0:
            self._start_watchdog()

    def alive(self) -> bool:
        return (
            self.death is None
            and self.transport.is_active()
            and not _fatal(self.transport.saved_exception)
        )

    def settled_alive(self) -> bool:
        """alive(), after giving a dying transport a moment to say so: paramiko closes the
        channels of a lost connection just before it marks itself inactive."""
        deadline = time.monotonic() + SETTLE
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.alive()

    def reason(self) -> str:
        if self.death:
            return self.death
        exc = self.transport.saved_exception
        if _fatal(exc):
            return f"connection lost ({exc or type(exc).__name__})"
        return "connection closed"

    def kill(self, reason: str) -> None:
        """Declare the connection dead and close it now, which wakes every blocked call."""
        if self.death is None:
            self.death = reason
            log.warning("%s: %s; closing the connection", self.settings.label, reason)
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        self.client.close()

    def _start_watchdog(self) -> None:
        s = self.settings
        self.transport.set_keepalive(s.keepalive_interval)
        self.transport.last_answer = time.monotonic()
        period = s.keepalive_interval if s.keepalive_count_max > 1 else s.keepalive_interval / 2
        for target, args in ((self._probe, (period,)), (self._watch, ())):
            threading.Thread(
                target=target, args=args, daemon=True, name=f"ssh-{target.__name__[1:]}-{s.name}"
            ).start()

    def _probe(self, period: float) -> None:
        """Send a want-reply probe every period (this thread may block on a stuck socket)."""
        while not self._stopped.wait(period) and self.transport.is_active():
            try:
                self.transport.send_probe()
            except (EOFError, OSError, paramiko.SSHException):
                return

    def _watch(self) -> None:
        """Kill the connection when no probe got an answer for interval x count_max seconds."""
        s = self.settings
        tick = min(0.25, s.keepalive_interval / 4)
        while not self._stopped.wait(tick) and self.transport.is_active():
            silent = time.monotonic() - self.transport.last_answer
            if silent > s.dead_after:
                self.kill(
                    f"no answer to keepalive probes for {silent:.1f} s (keepalive_interval "
                    f"{s.keepalive_interval:g} s x keepalive_count_max {s.keepalive_count_max})"
                )
                return


def _release_channel(channel: paramiko.Channel, slots: threading.BoundedSemaphore) -> None:
    channel.close()
    slots.release()


class ChannelSocket:
    """A socket-like view of one channel: a command's stdin/stdout or a direct-tcpip connection.

    Reads raise LinkDown when the link dies under them and socket.timeout past the timeout;
    settimeout(None) means the default timeout, so no read blocks forever. close() (or garbage
    collection) closes the channel and frees its slot."""

    def __init__(
        self, label: str, session: _Session, channel: paramiko.Channel, timeout: float
    ) -> None:
        self._label = label
        self._session = session
        self.channel = channel
        self._default_timeout = timeout
        self._timeout = timeout
        channel.settimeout(timeout)
        self._closer = weakref.finalize(self, _release_channel, channel, session.slots)

    @property
    def usable(self) -> bool:
        """Open, not at EOF, on a live connection: fit for another request."""
        channel = self.channel
        return (
            self._closer.alive
            and not (channel.closed or channel.eof_received)
            and self._session.alive()
        )

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = self._default_timeout if timeout is None else timeout
        self.channel.settimeout(self._timeout)

    def gettimeout(self) -> float:
        return self._timeout

    def recv(self, size: int) -> bytes:
        data = self.channel.recv(size)
        if data or self.channel.eof_received or not self._closer.alive:
            return data
        if not self._session.settled_alive():
            raise LinkDown(self._label, f"{self._session.reason()} (while reading)")
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        data = self.recv(nbytes or len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def send(self, data: bytes) -> int:
        with self._sending():
            return self.channel.send(data)

    def sendall(self, data: bytes) -> None:
        with self._sending():
            self.channel.sendall(data)

    @contextlib.contextmanager
    def _sending(self) -> Iterator[None]:
        try:
            yield
        except (EOFError, OSError, paramiko.SSHException) as exc:
            if isinstance(exc, TimeoutError) or self._session.settled_alive():
                raise
            raise LinkDown(self._label, f"{self._session.reason()} (while sending)") from exc

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        """A buffered reader (http.client reads responses through it)."""
        return io.BufferedReader(_ChannelReader(self))

    def fileno(self) -> int:
        return self.channel.fileno()

    def shutdown(self, how: int) -> None:
        self.channel.shutdown(how)

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> ChannelSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _ChannelReader(io.RawIOBase):
    """Raw reads from a ChannelSocket; closing it leaves the channel open (like SocketIO)."""

    def __init__(self, sock: ChannelSocket) -> None:
        super().__init__()
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self._sock.recv_into(buffer)

    def recv(self, size: int) -> bytes:
        return self._sock.recv(size)

    def fileno(self) -> int:
        return self._sock.fileno()

    def settimeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def gettimeout(self) -> float:
        return self._sock.gettimeout()


class _Lines:
    """One output stream of a command: kept whole, and handed to a callback line by line."""

    def __init__(self, name: str, on_output: OutputCallback | None, hidden: list[str]) -> None:
        self.name = name
        self.data = bytearray()
        self._on_output = on_output
        self._hidden = hidden
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        self.data += chunk
        if self._on_output is not None:
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            for line in lines:
                self._emit(line)

    def flush(self) -> None:
        if self._partial:
            self._emit(self._partial)
            self._partial = b""

    def _emit(self, line: bytes) -> None:
        assert self._on_output is not None
        self._on_output(
            self.name, _mask(line.decode("utf-8", "replace").rstrip("\r"), self._hidden)
        )

    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


@dataclass(frozen=True)
class _Upload:
    """One file to install: where its bytes come from, their sha256, target path and mode."""

    source: Path | bytes
    sha256: str
    target: str
    mode: int

    def open(self) -> BinaryIO:
        return self.source.open("rb") if isinstance(self.source, Path) else io.BytesIO(self.source)


class Link:
    """A self-healing SSH connection to one target, safe to share between threads.

    A lost connection raises LinkDown from whatever call was using it; the next call builds a
    new one (`rebuilds` counts those). Every wait is bounded: connect, banner, auth and
    channel opens by connect_timeout, commands by their timeout, reads by keepalive."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self.rebuilds = 0
        self._lock = threading.Lock()
        self._session: _Session | None = None
        self._lost: str | None = None

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
        self._live()

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
        ("***") in streamed lines and in errors; RunResult keeps the output as it was.
        Raises LinkDown when the link is lost, CommandTimeout (after killing the command's
        process group) past `timeout`, and CommandFailed on a non-zero exit when `check`."""
        command = cmd if isinstance(cmd, str) else shlex.join(cmd)
        hidden = sorted((v for v in (env or {}).values() if len(v) >= 4), key=len, reverse=True)
        shown = _shown(command, hidden)
        deadline = time.monotonic() + timeout
        token = secrets.token_hex(8)
        session = self._live()
        log.debug("%s: run `%s`", self.settings.label, shown)
        if env:
            self._write_env(session, token, env, timeout)
        try:
            status, out, err = self._stream(
                session, _wrap(command, token, bool(env)), deadline, on_output, stdin, hidden
            )
        except _Overdue:
            killed = self._kill(token)
            raise CommandTimeout(self.settings.label, shown, timeout, killed) from None
        result = RunResult(status, out.text(), err.text())
        if check and status != 0:
            tail = "\n".join(_mask(result.stderr, hidden).splitlines()[-STDERR_TAIL_LINES:])
            raise CommandFailed(self.settings.label, shown, status, tail)
        return result

    def upload_file(
        self, local: Path, remote: str, mode: int = 0o644, *, timeout: float = 300
    ) -> None:
        """Upload one file: written under a temporary name, sha256-checked, then renamed."""
        local = Path(local)
        upload = _Upload(local, _sha256_file(local), remote, mode)
        self._install(posixpath.dirname(remote) or ".", [upload], timeout)

    def write_file(
        self, remote: str, data: bytes, mode: int = 0o644, *, timeout: float = 120
    ) -> None:
        """Write bytes to a remote file (mode 0600 for env files) the same checked way."""
        upload = _Upload(data, hashlib.sha256(data).hexdigest(), remote, mode)
        self._install(posixpath.dirname(remote) or ".", [upload], timeout)

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
        else 0644). Returns the remote paths that changed; nothing on the host is deleted."""
        local_dir = Path(local_dir)
        if not local_dir.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(local_dir))
        wanted: dict[str, _Upload] = {}
        for path in sorted(local_dir.rglob("*")):
            if path.is_file():
                rel = path.relative_to(local_dir).as_posix()
                mode = mode_for(rel) if mode_for else _local_mode(path)
                target = posixpath.join(remote_dir, rel)
                wanted[rel] = _Upload(path, _sha256_file(path), target, mode)
        present = self._remote_state(remote_dir, list(wanted), timeout)
        changed = [u for rel, u in wanted.items() if present.get(rel) != (u.sha256, u.mode)]
        if changed:
            self._install(remote_dir, changed, timeout)
        return [u.target for u in changed]

    def read_file(
        self, remote: str, max_bytes: int = 1 << 20, *, timeout: float = 60
    ) -> bytes | None:
        """A small remote file's bytes, or None if it does not exist."""
        session = self._live()
        with self._file_errors(remote), self._sftp(session, timeout) as sftp:
            try:
                size = sftp.stat(remote).st_size or 0
            except FileNotFoundError:
                return None
            if size > max_bytes:
                raise RemoteFileError(
                    self.settings.label, remote, f"is {size} bytes, over max_bytes={max_bytes}"
                )
            with sftp.open(remote, "rb") as handle:
                data = handle.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise RemoteFileError(self.settings.label, remote, f"grew over {max_bytes} bytes")
        return data

    def open_stdio(self, command: str, *, timeout: float) -> ChannelSocket:
        """Start a command and return its stdin/stdout as a socket (e.g. docker dial-stdio)."""
        session = self._live()
        label = self.settings.label
        channel = self._hold_channel(session, timeout)
        try:
            with (
                self._guard(session, f"starting `{command}`"),
                self._answer_within(session, "an exec request"),
            ):
                channel.exec_command(command)
        except BaseException:
            _release_channel(channel, session.slots)
            raise
        return ChannelSocket(label, session, channel, timeout)

    def open_direct_tcpip(self, host: str, port: int, timeout: float) -> ChannelSocket:
        """A connection to host:port as seen from the target (ConnectionRefusedError if the
        target cannot reach it)."""
        session = self._live()
        channel = self._hold_channel(session, timeout, (host, port))
        return ChannelSocket(self.settings.label, session, channel, timeout)

    def _live(self) -> _Session:
        """The current connection, rebuilt first if it died."""
        with self._lock:
            old = self._session
            if old is not None and old.alive():
                return old
            if old is not None:
                self._lost = old.reason()
                old.stop()
                self._session = None
            new = self._connect()
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

    def _connect(self) -> _Session:
        s = self.settings
        started = time.monotonic()
        key = _load_key(s)
        client = paramiko.SSHClient()
        _pin_host_keys(client, s)
        client.set_missing_host_key_policy(_RejectUnpinned(s))
        sock = self._open_socket()
        try:
            try:
                client.connect(
                    s.host,
                    port=s.port,
                    username=s.user,
                    pkey=key,
                    sock=sock,
                    timeout=s.connect_timeout,
                    banner_timeout=s.connect_timeout,
                    auth_timeout=s.connect_timeout,
                    channel_timeout=s.connect_timeout,
                    allow_agent=s.use_agent,
                    look_for_keys=False,
                    transport_factory=_ProbedTransport,
                )
            except paramiko.BadHostKeyException as exc:
                raise _changed_key(s, exc.key, exc.expected_key) from None
            except paramiko.AuthenticationException as exc:
                raise AuthFailed(s.label, str(exc) or "key refused", _auth_fix(s)) from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                spent = time.monotonic() - started
                why = "no handshake in time" if spent >= s.connect_timeout else exc
                raise LinkDown(
                    s.label,
                    f"SSH handshake failed after {spent:.1f} s (connect_timeout "
                    f"{s.connect_timeout:g} s): {why or type(exc).__name__}",
                ) from exc
        except BaseException:
            client.close()
            sock.close()
            raise
        seconds = time.monotonic() - started
        log.info("%s: connected in %.2f s", s.label, seconds)
        return _Session(s, client, seconds)

    def _open_socket(self) -> socket.socket:
        s = self.settings
        try:
            sock = socket.create_connection((s.host, s.port), timeout=s.connect_timeout)
        except OSError as exc:
            raise LinkDown(
                s.label, f"cannot connect to {s.host}:{s.port}: {exc.strerror or exc}"
            ) from exc
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if s.keepalive_interval > 0:
            idle = max(1, int(s.keepalive_interval))
            for option, value in (
                ("TCP_KEEPIDLE", idle),
                ("TCP_KEEPINTVL", idle),
                ("TCP_KEEPCNT", s.keepalive_count_max),
                ("TCP_USER_TIMEOUT", int(s.dead_after * 1000)),
            ):
                if hasattr(socket, option):
                    sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
        return sock

    @contextlib.contextmanager
    def _guard(self, session: _Session, doing: str) -> Iterator[None]:
        """Turn an error of a connection that died into LinkDown."""
        try:
            yield
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if session.alive() and (not _transport_error(exc) or session.settled_alive()):
                raise
            raise LinkDown(self.settings.label, f"{session.reason()} (while {doing})") from exc

    @contextlib.contextmanager
    def _answer_within(self, session: _Session, what: str) -> Iterator[None]:
        """Kill the connection if the server leaves a channel request unanswered (paramiko
        waits for the answer without a timeout)."""
        wait = self.settings.connect_timeout
        timer = threading.Timer(wait, session.kill, (f"no answer to {what} within {wait:g} s",))
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    @contextlib.contextmanager
    def _slot(self, session: _Session, wait: float) -> Iterator[None]:
        if not session.slots.acquire(timeout=max(0.0, wait)):
            raise ChannelsBusy(self.settings.label, self.settings.max_channels, wait)
        try:
            yield
        finally:
            session.slots.release()

    def _open(self, session: _Session, dest: tuple[str, int] | None = None) -> paramiko.Channel:
        """A new session channel, or a direct-tcpip one to dest; bounded by connect_timeout."""
        label, wait = self.settings.label, self.settings.connect_timeout
        try:
            return session.transport.open_channel(
                "direct-tcpip" if dest else "session",
                dest_addr=dest,
                src_addr=("127.0.0.1", 0) if dest else None,
                timeout=wait,
            )
        except paramiko.ChannelException as exc:
            if dest:
                raise ConnectionRefusedError(
                    errno.ECONNREFUSED, f"{dest[0]}:{dest[1]} via {label}: {exc.text}"
                ) from None
            raise LinkError(label, f"{label} refused a new channel: {exc.text}") from None
        except paramiko.SSHException as exc:
            if session.alive() and "Timeout" in str(exc):
                session.kill(f"no answer to a channel open within {wait:g} s")
            raise

    def _hold_channel(
        self, session: _Session, wait: float, dest: tuple[str, int] | None = None
    ) -> paramiko.Channel:
        """Take a slot and open a channel that keeps it (freed by _release_channel)."""
        if not session.slots.acquire(timeout=max(0.0, wait)):
            raise ChannelsBusy(self.settings.label, self.settings.max_channels, wait)
        try:
            with self._guard(session, "opening a channel"):
                return self._open(session, dest)
        except BaseException:
            session.slots.release()
            raise

    def _stream(
        self,
        session: _Session,
        wrapped: str,
        deadline: float,
        on_output: OutputCallback | None,
        stdin: bytes | None,
        hidden: list[str],
    ) -> tuple[int, _Lines, _Lines]:
        out, err = _Lines("stdout", on_output, hidden), _Lines("stderr", on_output, hidden)
        wait = deadline - time.monotonic()
        with self._slot(session, wait), self._guard(session, "running a command"):
            channel = self._open(session)
            try:
                with self._answer_within(session, "an exec request"):
                    channel.exec_command(wrapped)
                status = _pump(channel, deadline, out, err, stdin or b"")
            finally:
                channel.close()
                out.flush()
                err.flush()
            if (not channel.eof_received or status < 0) and not session.settled_alive():
                raise LinkDown(self.settings.label, f"{session.reason()} (while running)")
        return status, out, err

    def _kill(self, token: str) -> bool:
        """Kill the process group of the run that `token` names; True if it is gone."""
        try:
            result = self.run(_kill_script(token), timeout=KILL_TIMEOUT, check=False)
        except LinkError as exc:
            log.warning("%s: could not kill a timed-out command: %s", self.settings.label, exc)
            return False
        return result.exit_status == 0

    def _write_env(
        self, session: _Session, token: str, env: Mapping[str, str], timeout: float
    ) -> None:
        bad = [name for name in env if not _ENV_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"bad environment variable names: {', '.join(map(repr, bad))}")
        body = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()).encode()
        path = f"{RUN_DIR}/{token}.env"
        with self._file_errors(path), self._sftp(session, timeout) as sftp:
            try:
                sftp.chmod(RUN_DIR, 0o700)
            except FileNotFoundError:
                sftp.mkdir(RUN_DIR, 0o700)
            with sftp.open(path, "wx") as handle:
                handle.chmod(0o600)
                handle.write(body)

    @contextlib.contextmanager
    def _sftp(self, session: _Session, wait: float) -> Iterator[paramiko.SFTPClient]:
        with self._slot(session, wait), self._guard(session, "talking SFTP"):
            channel = self._open(session)
            channel.settimeout(SFTP_REQUEST_TIMEOUT)
            try:
                with self._answer_within(session, "the sftp subsystem request"):
                    channel.invoke_subsystem("sftp")
                sftp = paramiko.SFTPClient(channel)
                try:
                    yield sftp
                finally:
                    sftp.close()
            finally:
                channel.close()

    @contextlib.contextmanager
    def _file_errors(self, path: str) -> Iterator[None]:
        try:
            yield
        except OSError as exc:
            raise RemoteFileError(self.settings.label, path, exc.strerror or str(exc)) from exc

    def _remote_state(
        self, remote_dir: str, names: list[str], timeout: float
    ) -> dict[str, tuple[str, int]]:
        """sha256 and mode of each named file under remote_dir that exists, in one command."""
        if not names:
            return {}
        quoted = " ".join(shlex.quote(n) for n in names)
        script = (
            f"cd {shlex.quote(remote_dir)} 2>/dev/null || exit 0; "
            f"sha256sum -- {quoted} 2>/dev/null; echo '--modes--'; "
            f"stat -c '%a %n' -- {quoted} 2>/dev/null; exit 0"
        )
        sums_text, _, modes_text = self.run(script, timeout=timeout).stdout.partition("--modes--\n")
        sums = {}
        for line in sums_text.splitlines():
            digest, sep, name = line.partition("  ")
            if sep and not digest.startswith("\\"):
                sums[name] = digest
        modes = {}
        for line in modes_text.splitlines():
            mode, _, name = line.partition(" ")
            modes[name] = int(mode, 8) & 0o7777
        return {name: (sums[name], modes[name]) for name in sums if name in modes}

    def _install(self, parent: str, uploads: list[_Upload], timeout: float) -> None:
        """Stage uploads in a private directory under parent, check their sha256 on the host,
        then rename each into place (an atomic replace on the same file system)."""
        stage = posixpath.join(parent, f".dockyard-stage-{secrets.token_hex(6)}")
        dirs = sorted({posixpath.dirname(u.target) or "." for u in uploads})
        self.run(
            f"{shlex.join(['mkdir', '-p', '--', *dirs])} && "
            f"{shlex.join(['mkdir', '-m', '700', '--', stage])}",
            timeout=timeout,
        )
        installed = False
        try:
            session = self._live()
            with self._file_errors(stage), self._sftp(session, timeout) as sftp:
                for n, upload in enumerate(uploads):
                    staged = f"{stage}/{n}"
                    with upload.open() as source:
                        sftp.putfo(source, staged, confirm=False)
                    sftp.chmod(staged, upload.mode)
            checks = "".join(f"{u.sha256}  {stage}/{n}\n" for n, u in enumerate(uploads))
            moves = " && ".join(
                shlex.join(["mv", "-f", "--", f"{stage}/{n}", u.target])
                for n, u in enumerate(uploads)
            )
            done = self.run(
                f"sha256sum -c --quiet - && {moves} && rmdir -- {shlex.quote(stage)}",
                timeout=timeout,
                stdin=checks.encode(),
                check=False,
            )
            if done.exit_status != 0:
                raise RemoteFileError(
                    self.settings.label,
                    ", ".join(u.target for u in uploads),
                    f"sha256 check or rename after upload failed: "
                    f"{(done.stdout + done.stderr).strip()[-500:]}",
                )
            installed = True
        finally:
            if not installed:
                with contextlib.suppress(LinkError):
                    self.run(shlex.join(["rm", "-rf", "--", stage]), timeout=30, check=False)


class _RejectUnpinned(paramiko.RejectPolicy):
    """RejectPolicy that says which key was offered and how to pin it."""

    def __init__(self, settings: LinkSettings) -> None:
        self._settings = settings

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: Any) -> None:
        s = self._settings
        line = f"{s.known_hosts_name} {key.get_name()} {key.get_base64()}"
        target = s.known_hosts or "known_hosts"
        where = f"known_hosts {s.known_hosts}" if s.known_hosts else "host_key"
        raise HostKeyRejected(
            s.label,
            f"{s.host}:{s.port}",
            key.get_name(),
            key.fingerprint,
            f"no key for {s.known_hosts_name} is pinned in {where}",
            "compare the fingerprint with the host's own (ssh-keygen -lf "
            "/etc/ssh/ssh_host_*_key.pub on it), then pin it: add this line to "
            f"{target}:\n  {line}\n(or: ssh-keyscan -p {s.port} {s.host} >> {target}), "
            f'or set host_key: "{key.get_name()} {key.get_base64()}" in the target config',
        )


def _changed_key(s: LinkSettings, offered: Any, expected: Any) -> HostKeyRejected:
    target = s.known_hosts or "known_hosts"
    return HostKeyRejected(
        s.label,
        f"{s.host}:{s.port}",
        offered.get_name(),
        offered.fingerprint,
        f"it differs from the pinned {expected.get_name()} {expected.fingerprint}; the host "
        "was reinstalled, or someone is in the middle",
        "find out which; only if the host really changed, re-pin it: "
        f"ssh-keygen -R '{s.known_hosts_name}' -f {target} && "
        f"ssh-keyscan -p {s.port} {s.host} >> {target} (check the fingerprint), "
        "or update host_key in the target config",
    )


def _pin_host_keys(client: paramiko.SSHClient, s: LinkSettings) -> None:
    keys = client.get_host_keys()
    if s.known_hosts:
        try:
            keys.load(str(s.known_hosts))
        except (OSError, paramiko.hostkeys.InvalidHostKey) as exc:
            raise LinkError(s.label, f"cannot read known_hosts {s.known_hosts}: {exc}") from None
    if s.host_key:
        try:
            kind, data = s.host_key.split()[:2]
            key = paramiko.PKey.from_type_string(kind, base64.b64decode(data, validate=True))
        except (ValueError, binascii.Error, paramiko.SSHException) as exc:
            raise LinkError(
                s.label, f"host_key is not a 'type base64' public key line: {exc}"
            ) from None
        keys.add(s.known_hosts_name, kind, key)


_KEY_CLASSES: tuple[tuple[type, type[paramiko.PKey]], ...] = (
    (ed25519.Ed25519PrivateKey, paramiko.Ed25519Key),
    (ec.EllipticCurvePrivateKey, paramiko.ECDSAKey),
    (rsa.RSAPrivateKey, paramiko.RSAKey),
)


def _load_key(s: LinkSettings) -> paramiko.PKey | None:
    """The private key from key_file or key_data, decrypted with key_passphrase."""
    if s.key_file:
        origin = f"key file {s.key_file}"
        try:
            data = s.key_file.read_bytes()
        except OSError as exc:
            raise AuthFailed(
                s.label, f"cannot read {origin}: {exc.strerror}", "fix key_file"
            ) from None
    elif s.key_data:
        origin, data = "key data", s.key_data.encode()
    else:
        return None
    password = s.key_passphrase.encode() if s.key_passphrase else None
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            loaded = serialization.load_ssh_private_key(data, password)
        else:
            loaded = serialization.load_pem_private_key(data, password)
        key_class = next(k for c, k in _KEY_CLASSES if isinstance(loaded, c))
        return key_class.from_private_key(io.StringIO(data.decode()), password=s.key_passphrase)
    except TypeError:
        reason, fix = f"{origin} is encrypted and no passphrase was given", "set the passphrase"
    except StopIteration:
        reason, fix = f"{origin} is not an ed25519, ecdsa or rsa key", "use one of those types"
    except (ValueError, UnicodeDecodeError, paramiko.SSHException):
        reason = f"cannot decrypt or parse {origin}"
        fix = "check the passphrase, and that it is a whole private key (newlines included)"
    raise AuthFailed(s.label, reason, fix)


def _auth_fix(s: LinkSettings) -> str:
    source = "ssh-agent keys" if s.use_agent and not (s.key_file or s.key_data) else "the key"
    return (
        f"add the public half of {source} to ~{s.user}/.ssh/authorized_keys on {s.host}, "
        f"and check the user ({s.user})"
    )


def _transport_error(exc: BaseException) -> bool:
    """Errors a lost connection shows as (not SFTP status errors such as a missing file)."""
    if isinstance(exc, paramiko.ChannelException | ConnectionRefusedError):
        return False
    if isinstance(exc, paramiko.SSHException | EOFError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno is None


def _pump(
    channel: paramiko.Channel, deadline: float, out: _Lines, err: _Lines, stdin: bytes
) -> int:
    """Feed stdin, read stdout and stderr until the command exits; its exit status (-1 if
    the channel closed without one)."""
    if not stdin:
        channel.shutdown_write()
    channel.settimeout(POLL)
    while True:
        while channel.recv_stderr_ready():
            err.feed(channel.recv_stderr(CHUNK))
        if stdin and channel.send_ready():
            stdin = stdin[channel.send(stdin[:CHUNK]) :]
            if not stdin:
                channel.shutdown_write()
        if time.monotonic() > deadline:
            raise _Overdue
        try:
            data = channel.recv(CHUNK)
        except TimeoutError:
            continue
        if not data:
            break
        out.feed(data)
    while True:
        while channel.recv_stderr_ready():
            err.feed(channel.recv_stderr(CHUNK))
        if channel.exit_status_ready():
            return channel.exit_status
        if time.monotonic() > deadline:
            raise _Overdue
        channel.status_event.wait(POLL)


def _wrap(command: str, token: str, with_env: bool) -> str:
    """The command under a POSIX sh that records its process group (for a kill on timeout)
    and, with env, sources and deletes the env file before the command starts."""
    run_dir = f'"$HOME"/{RUN_DIR}'
    lines = [
        f"mkdir -p -m 700 {run_dir} && echo $$ > {run_dir}/{token}.pid "
        f"|| {{ echo 'dockyard: cannot write {RUN_DIR}/{token}.pid' >&2; exit 125; }}"
    ]
    if with_env:
        env_file = f"{run_dir}/{token}.env"
        lines.append(f". {env_file}; loaded=$?; rm -f {env_file}; [ $loaded = 0 ] || exit 125")
    lines.append(f"sh -c {shlex.quote(command)}; status=$?")
    lines.append(f"rm -f {run_dir}/{token}.pid; exit $status")
    return f"exec sh -c {shlex.quote(chr(10).join(lines))}"


def _kill_script(token: str) -> str:
    """TERM the run's process group, KILL it after 3 s, wait until it is gone."""
    run_dir = f'"$HOME"/{RUN_DIR}'
    return "\n".join(
        [
            f"f={run_dir}/{token}.pid; i=0",
            'while [ ! -s "$f" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done',
            '[ -s "$f" ] || exit 0',
            'p=$(cat "$f"); case $p in "" | *[!0-9]*) exit 1 ;; esac',
            'kill -TERM "-$p" 2>/dev/null; i=0',
            'while kill -0 "-$p" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done',
            'kill -KILL "-$p" 2>/dev/null; i=0',
            'while kill -0 "-$p" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done',
            f'rm -f "$f" {run_dir}/{token}.env',
            '! kill -0 "-$p" 2>/dev/null',
        ]
    )


def _mask(text: str, hidden: list[str]) -> str:
    for value in hidden:
        text = text.replace(value, "***")
    return text


def _shown(command: str, hidden: list[str]) -> str:
    shown = _mask(command, hidden)
    return shown if len(shown) <= SHOWN_COMMAND_CHARS else shown[:SHOWN_COMMAND_CHARS] + "..."


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _local_mode(path: Path) -> int:
    return 0o755 if os.access(path, os.X_OK) else 0o644
