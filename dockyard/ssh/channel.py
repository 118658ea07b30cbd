"""A socket-like view of one SSH channel (a command's stdin/stdout or a direct-tcpip
connection), for http.client, urllib3 and docker-py to read and write through."""

from __future__ import annotations

import contextlib
import io
import weakref
from collections.abc import Iterator
from typing import Any

import paramiko

from dockyard.ssh.errors import LinkDown
from dockyard.ssh.transport import Session


class ChannelSocket:
    """A socket-like view of one channel: a command's stdin/stdout or a direct-tcpip connection.

    Reads raise LinkDown when the link dies under them and socket.timeout past the timeout;
    settimeout(None) means the default timeout, so no read blocks forever. close() (or garbage
    collection) closes the channel and frees its slot."""

    def __init__(self, session: Session, channel: paramiko.Channel, timeout: float) -> None:
        self._label = session.label
        self._session = session
        self.channel = channel
        self._default_timeout = timeout
        self._timeout = timeout
        channel.settimeout(timeout)
        self._closer = weakref.finalize(self, session.release, channel)

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
