"""One SSH connection: connect within a budget, the keepalive watchdog that declares a silent
peer dead, and the channel plumbing (slots, opens, request answers, SFTP) every operation uses.

Every wait here has two bounds: the link's own limit (connect_timeout; a server past it is
unresponsive and the connection is killed) and the caller's time left (past it, Overdue is
raised and the caller turns it into its own timeout error)."""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import paramiko
from paramiko.common import cMSG_GLOBAL_REQUEST

from dockyard.ssh.errors import AuthFailed, ChannelsBusy, LinkDown, LinkError, RemoteFileError
from dockyard.ssh.keys import RejectUnpinned, auth_fix, changed_key, load_key, pin_host_keys
from dockyard.ssh.settings import LinkSettings

log = logging.getLogger(__name__)

PROBE = "keepalive@openssh.com"
SETTLE = 0.5
SFTP_REQUEST_TIMEOUT = 60.0
# Never negotiated: SHA-1 and MD5 key exchange, MACs and signatures, CBC and 3DES ciphers.
# OpenSSH 8.2+ (the lab runs 9.2) offers curve25519/ecdh/dh-sha2 kex, hmac-sha2 MACs, ctr/gcm
# ciphers and rsa-sha2 signatures, so no current server needs them.
WEAK_ALGORITHMS: dict[str, list[str]] = {
    "kex": [
        "diffie-hellman-group1-sha1",
        "diffie-hellman-group14-sha1",
        "diffie-hellman-group-exchange-sha1",
    ],
    "macs": ["hmac-sha1", "hmac-sha1-96", "hmac-md5", "hmac-md5-96"],
    "keys": ["ssh-rsa", "ssh-dss"],
    "pubkeys": ["ssh-rsa", "ssh-dss"],
    "ciphers": ["aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc"],
}


class Overdue(Exception):
    """The caller's own time ran out (internal: each operation raises its own timeout error)."""


class ProbedTransport(paramiko.Transport):
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


def _transport_error(exc: BaseException) -> bool:
    """Errors a lost connection shows as (not SFTP status errors such as a missing file)."""
    if isinstance(exc, paramiko.ChannelException | ConnectionRefusedError):
        return False
    if isinstance(exc, paramiko.SSHException | EOFError | ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno is None


@contextlib.contextmanager
def _timer(seconds: float, action: Callable[[], None]) -> Iterator[threading.Event]:
    """Run `action` if the block is still running after `seconds`; the event says it fired."""
    fired = threading.Event()

    def fire() -> None:
        fired.set()
        action()

    timer = threading.Timer(max(0.0, seconds), fire)
    timer.daemon = True
    timer.start()
    try:
        yield fired
    finally:
        timer.cancel()


@contextlib.contextmanager
def file_errors(label: str, path: str) -> Iterator[None]:
    """Turn an SFTP status error (missing directory, permissions) into RemoteFileError."""
    try:
        yield
    except OSError as exc:
        raise RemoteFileError(label, path, exc.strerror or str(exc)) from exc


class Session:
    """One SSH connection of a link: transport, channel slots and the keepalive watchdog."""

    def __init__(self, settings: LinkSettings, client: paramiko.SSHClient, seconds: float) -> None:
        self.settings = settings
        self.label = settings.label
        self.client = client
        transport = client.get_transport()
        assert isinstance(transport, ProbedTransport)
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
            log.warning("%s: %s; closing the connection", self.label, reason)
        self.stop()

    def stop(self) -> None:
        self._stopped.set()
        self.client.close()

    @contextlib.contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Turn an error of a connection that died into LinkDown."""
        try:
            yield
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if self.alive() and (not _transport_error(exc) or self.settled_alive()):
                raise
            raise LinkDown(self.label, f"{self.reason()} (while {doing})") from exc

    @contextlib.contextmanager
    def answer_within(self, channel: paramiko.Channel, what: str, left: float) -> Iterator[None]:
        """Bound a channel request paramiko waits on without a timeout: past connect_timeout
        the server is unresponsive (kill the connection); past `left` the caller's time is up
        (close the channel, raise Overdue)."""
        wait = self.settings.connect_timeout
        if left >= wait:
            with _timer(wait, lambda: self.kill(f"no answer to {what} within {wait:g} s")):
                yield
            return
        with _timer(left, channel.close) as fired:
            try:
                yield
            except (paramiko.SSHException, EOFError, OSError):
                if fired.is_set():
                    raise Overdue from None
                raise
        if fired.is_set():
            raise Overdue

    @contextlib.contextmanager
    def slot(self, wait: float) -> Iterator[None]:
        """One of the link's channel slots for the block; ChannelsBusy after `wait` seconds."""
        self.take_slot(wait)
        try:
            yield
        finally:
            self.slots.release()

    def take_slot(self, wait: float) -> None:
        if not self.slots.acquire(timeout=max(0.0, wait)):
            raise ChannelsBusy(self.label, self.settings.max_channels, wait)

    def open_channel(self, left: float, dest: tuple[str, int] | None = None) -> paramiko.Channel:
        """A new session channel, or a direct-tcpip one to dest, within connect_timeout and
        the caller's `left` seconds."""
        limit = self.settings.connect_timeout
        try:
            return self.transport.open_channel(
                "direct-tcpip" if dest else "session",
                dest_addr=dest,
                src_addr=("127.0.0.1", 0) if dest else None,
                timeout=max(0.0, min(limit, left)),
            )
        except paramiko.ChannelException as exc:
            if dest:
                raise ConnectionRefusedError(
                    errno.ECONNREFUSED, f"{dest[0]}:{dest[1]} via {self.label}: {exc.text}"
                ) from None
            raise LinkError(self.label, f"{self.label} refused a new channel: {exc.text}") from None
        except paramiko.SSHException as exc:
            if self.alive() and "Timeout" in str(exc):
                if left < limit:
                    raise Overdue from None
                self.kill(f"no answer to a channel open within {limit:g} s")
            raise

    def hold_channel(self, left: float, dest: tuple[str, int] | None = None) -> paramiko.Channel:
        """Take a slot and open a channel that keeps it (freed by release())."""
        self.take_slot(left)
        try:
            with self.guard("opening a channel"):
                return self.open_channel(left, dest)
        except BaseException:
            self.slots.release()
            raise

    def release(self, channel: paramiko.Channel) -> None:
        """Close a held channel and free its slot."""
        channel.close()
        self.slots.release()

    @contextlib.contextmanager
    def sftp(self, left: Callable[[], float]) -> Iterator[paramiko.SFTPClient]:
        """An SFTP client on its own channel; the channel is closed when `left()` runs out,
        which stops the transfer (Overdue)."""
        with self.slot(left()), self.guard("talking SFTP"):
            channel = self.open_channel(left())
            channel.settimeout(SFTP_REQUEST_TIMEOUT)
            try:
                with _timer(left(), channel.close) as fired:
                    try:
                        with self.answer_within(channel, "the sftp subsystem request", left()):
                            channel.invoke_subsystem("sftp")
                        sftp = paramiko.SFTPClient(channel)
                        try:
                            yield sftp
                        finally:
                            sftp.close()
                    except (paramiko.SSHException, EOFError, OSError):
                        if fired.is_set():
                            raise Overdue from None
                        raise
            finally:
                channel.close()

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


def connect(s: LinkSettings, left: float) -> Session:
    """A new authenticated connection, within connect_timeout and the caller's `left` seconds
    in all (TCP connect, handshake, host key check and auth together)."""
    budget = min(s.connect_timeout, left)
    if budget <= 0:
        raise Overdue
    started = time.monotonic()
    key = load_key(s)
    client = paramiko.SSHClient()
    pin_host_keys(client, s)
    client.set_missing_host_key_policy(RejectUnpinned(s))
    sock = _open_socket(s, budget, budget < s.connect_timeout)
    try:
        with _timer(budget - (time.monotonic() - started), lambda: _abort(client, sock)) as fired:
            _handshake(s, client, sock, key, budget, started, fired)
            if fired.is_set():
                raise _late(s, budget, started, TimeoutError())
    except BaseException:
        _abort(client, sock)
        raise
    seconds = time.monotonic() - started
    log.info("%s: connected in %.2f s", s.label, seconds)
    return Session(s, client, seconds)


def _abort(client: paramiko.SSHClient, sock: socket.socket) -> None:
    """Close a connection in the making, which wakes a handshake waiting on it."""
    client.close()
    sock.close()


def _handshake(
    s: LinkSettings,
    client: paramiko.SSHClient,
    sock: socket.socket,
    key: paramiko.PKey | None,
    budget: float,
    started: float,
    aborted: threading.Event,
) -> None:
    try:
        client.connect(
            s.host,
            port=s.port,
            username=s.user,
            pkey=key,
            sock=sock,
            timeout=budget,
            banner_timeout=budget,
            auth_timeout=budget,
            channel_timeout=s.connect_timeout,
            allow_agent=s.use_agent,
            look_for_keys=False,
            transport_factory=ProbedTransport,
            disabled_algorithms=WEAK_ALGORITHMS,
        )
    except paramiko.BadHostKeyException as exc:
        raise changed_key(s, exc.key, exc.expected_key) from None
    except paramiko.AuthenticationException as exc:
        if aborted.is_set():
            raise _late(s, budget, started, exc) from exc
        raise AuthFailed(s.label, str(exc) or "key refused", auth_fix(s)) from None
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise _late(s, budget, started, exc) from exc


def _late(s: LinkSettings, budget: float, started: float, exc: BaseException) -> Exception:
    """Overdue when the caller's shorter budget ran out, else LinkDown naming what failed."""
    spent = time.monotonic() - started
    if budget < s.connect_timeout and spent >= budget:
        return Overdue()
    why = "no handshake in time" if spent >= budget else exc
    return LinkDown(
        s.label,
        f"SSH handshake failed after {spent:.1f} s (connect_timeout "
        f"{s.connect_timeout:g} s): {why or type(exc).__name__}",
    )


def _open_socket(s: LinkSettings, budget: float, short: bool) -> socket.socket:
    try:
        sock = socket.create_connection((s.host, s.port), timeout=budget)
    except TimeoutError:
        if short:
            raise Overdue from None
        raise LinkDown(s.label, f"cannot connect to {s.host}:{s.port}: timed out") from None
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
