"""TLS over a socket-like SSH channel (no file descriptor of its own), through memory BIOs:
ssl.SSLObject does the handshake and records, the channel carries the bytes."""

from __future__ import annotations

import io
import ssl
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
_CHUNK = 65536


class RawChannel(Protocol):
    """What a TLS stream needs of the channel under it (ChannelSocket has it)."""

    def recv(self, size: int) -> bytes: ...

    def sendall(self, data: bytes) -> None: ...

    def close(self) -> None: ...


def client_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A verifying client context: the system CA bundle, or only `ca_file` when given."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class TlsStream:
    """A TLS client connection over `raw`, verified for `server_hostname` (name or IP)."""

    def __init__(self, raw: RawChannel, context: ssl.SSLContext, server_hostname: str) -> None:
        self._raw = raw
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_hostname=server_hostname
        )
        self._pump(self._tls.do_handshake)

    def _pump(self, step: Callable[[], T]) -> T:
        """Run `step`, feeding the channel's bytes in and the TLS records out until it is done."""
        while True:
            try:
                result = step()
            except ssl.SSLWantReadError:
                self._flush()
                data = self._raw.recv(_CHUNK)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            self._flush()
            return result

    def _flush(self) -> None:
        if data := self._outgoing.read():
            self._raw.sendall(data)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            sent = self._pump(partial(self._tls.write, view))
            view = view[sent:]

    def recv(self, size: int) -> bytes:
        """Up to `size` decrypted bytes; b"" at the end (a peer that closes without
        close_notify counts as the end, as ssl sockets treat it by default)."""
        try:
            return self._pump(partial(self._tls.read, size))
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            return b""

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        """A buffered reader (http.client reads responses through it)."""
        return io.BufferedReader(_Reader(self))

    def close(self) -> None:
        self._raw.close()


class _Reader(io.RawIOBase):
    def __init__(self, stream: TlsStream) -> None:
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.recv(len(buffer))
        buffer[: len(data)] = data
        return len(data)
