"""Frame HTTP/1.1 requests on a client->server byte stream for the lab fault proxy."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

PIECE = 64 * 1024
RESPONSE_503 = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_HEX = re.compile(rb"[0-9A-Fa-f]+")


class MalformedRequest(ValueError):
    """The client->server stream does not carry well-framed HTTP/1.1 requests."""


@dataclass(frozen=True)
class RequestHead:
    """A request line plus headers, as raw bytes and the fields that decide framing."""

    raw: bytes
    method: str
    target: str
    content_length: int
    chunked: bool
    expects_continue: bool
    upgrades: bool


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse a request head ending in a blank line; raise MalformedRequest if it is not one."""
    request_line, *lines = raw.decode("latin-1").lstrip("\r\n").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise MalformedRequest(f"bad request line {request_line!r}")
    headers: dict[str, list[str]] = {}
    for line in filter(None, lines):
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise MalformedRequest(f"bad header line {line!r}")
        headers.setdefault(name.lower(), []).append(value.strip())
    codings = _tokens(headers.get("transfer-encoding", []))
    if codings and codings[-1] != "chunked":
        raise MalformedRequest(f"request transfer-encoding {codings} does not end in chunked")
    lengths = set(_tokens(headers.get("content-length", [])))
    if not codings and (len(lengths) > 1 or not all(v.isdigit() for v in lengths)):
        raise MalformedRequest(f"bad content-length {sorted(lengths)}")
    method, target = parts[0], parts[1]
    return RequestHead(
        raw=raw,
        method=method,
        target=target,
        content_length=int(lengths.pop()) if lengths and not codings else 0,
        chunked=bool(codings),
        expects_continue="100-continue" in _tokens(headers.get("expect", [])),
        upgrades=method == "CONNECT" or "upgrade" in headers,
    )


async def read_request_head(
    reader: asyncio.StreamReader, prefix: bytes = b""
) -> RequestHead | None:
    """The next request head on the stream (after `prefix`, bytes already read from it), or
    None at a clean end between requests."""
    try:
        raw = prefix + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if (prefix + exc.partial).strip():
            raise MalformedRequest("stream ended inside a request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise MalformedRequest("request head is larger than the stream limit") from None
    return parse_request_head(raw)


async def iter_body(reader: asyncio.StreamReader, head: RequestHead) -> AsyncIterator[bytes]:
    """Yield the request's body exactly as sent (chunk framing included), in pieces."""
    if not head.chunked:
        async for piece in _exactly(reader, head.content_length):
            yield piece
        return
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = size_line.split(b";")[0].strip()
        if not _HEX.fullmatch(size):
            raise MalformedRequest(f"bad chunk size line {size_line!r}")
        yield size_line
        if int(size, 16) == 0:
            break
        async for piece in _exactly(reader, int(size, 16) + 2):
            yield piece
    while True:
        trailer = await reader.readuntil(b"\r\n")
        yield trailer
        if trailer == b"\r\n":
            return


async def _exactly(reader: asyncio.StreamReader, count: int) -> AsyncIterator[bytes]:
    while count > 0:
        piece = await reader.readexactly(min(count, PIECE))
        count -= len(piece)
        yield piece


def _tokens(values: list[str]) -> list[str]:
    return [
        token.strip().lower() for value in values for token in value.split(",") if token.strip()
    ]
