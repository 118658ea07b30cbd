"""Fault proxy relay: routes, connections, faults and counters, all on one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import socket
import struct
import time
from collections import deque
from ipaddress import ip_address
from typing import Any

from dockyard.lab.faultproxy_http import (
    PIECE,
    RESPONSE_503,
    MalformedRequest,
    iter_body,
    read_request_head,
)

CONNECT_TIMEOUT = 5.0
REQUEST_LOG_SIZE = 1000
UP, DOWN = "up", "down"
_LINGER_RST = struct.pack("ii", 1, 0)
_FAULTS = {
    "idle_drop": "seconds > 0",
    "freeze": "true or false",
    "reset_after": "int bytes >= 0",
    "throttle": "int bytes/s > 0",
    "http_503": '{"count": int >= 0, "path": regex (default: any)} on a route added with http=True',
}
FAULT_NAMES = tuple(_FAULTS)


class FaultProxyError(Exception):
    """Base class of fault proxy errors."""


class UnknownRoute(FaultProxyError):
    """No route has that name; routes() lists the names."""


class DuplicateRoute(FaultProxyError):
    """A route with that name exists already; pick another name."""


class InvalidFault(FaultProxyError, ValueError):
    """A fault name or value is not one the proxy knows."""


class NotLoopback(FaultProxyError, ValueError):
    """The proxy only forwards to loopback addresses."""


class _Hangup(Exception):
    """The proxy answered the client itself and closes the connection cleanly."""


class _Aborted(Exception):
    """The connection was reset by a fault."""


def _check_fault(name: str, value: Any, http: bool) -> Any:
    if name not in _FAULTS:
        raise InvalidFault(f"unknown fault {name!r}; known faults: {', '.join(_FAULTS)}")
    if value is None or (name == "freeze" and isinstance(value, bool)):
        return value
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if name == "idle_drop" and number and math.isfinite(value) and value > 0:
        return float(value)
    if name == "reset_after" and type(value) is int and value >= 0:
        return value
    if name == "throttle" and type(value) is int and value > 0:
        return value
    if name == "http_503" and http and isinstance(value, dict) and set(value) <= {"count", "path"}:
        count, path = value.get("count"), value.get("path", "")
        if type(count) is int and count >= 0 and isinstance(path, str):
            with contextlib.suppress(re.error):
                return (count, re.compile(path)) if count else None
    raise InvalidFault(f"{name}={value!r} is not valid; expected {_FAULTS[name]}")


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise NotLoopback(f"target {host!r} is not loopback; use 127.0.0.1, ::1 or localhost")


class _TokenBucket:
    """Paces one direction of a route to `rate` bytes/s across all its connections."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.burst = max(1, rate // 20)
        self.tokens = 0.0
        self.stamp = time.monotonic()

    async def take(self, count: int) -> None:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate) - count
        self.stamp = now
        if self.tokens < 0:
            await asyncio.sleep(-self.tokens / self.rate)


class Route:
    """One listening port forwarded to one loopback target, with its faults and counters.

    Byte counters count bytes relayed; a request the proxy answers with 503 is not relayed,
    so neither it nor the 503 is counted. Only call it from the loop that runs it."""

    def __init__(self, target_host: str, target_port: int, http: bool) -> None:
        _require_loopback(target_host)
        self.target_host = target_host
        self.target_port = target_port
        self.http = http
        self.server: asyncio.Server | None = None
        self.conns: set[_Conn] = set()
        self.thawed = asyncio.Event()
        self.thawed.set()
        self.idle_drop: float | None = None
        self.idle_since = 0.0
        self.idle_task: asyncio.Task[None] | None = None
        self.reset_budget: int | None = None
        self.buckets: dict[str, _TokenBucket] = {}
        self.http_503: tuple[int, re.Pattern[str]] | None = None
        self.reset_stats()

    def reset_stats(self) -> None:
        """Zero the counters and empty the request log (the last REQUEST_LOG_SIZE requests)."""
        self.bytes = {UP: 0, DOWN: 0}
        self.accepted = 0
        self.requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_SIZE)

    def stats(self) -> dict[str, Any]:
        """Counters as plain JSON-ready values."""
        return {
            **self.bytes,
            "connections": self.accepted,
            "active": len(self.conns),
            "requests": list(self.requests),
        }

    def faults(self) -> dict[str, Any]:
        """Current faults; reset_after and http_503 count show what is left."""
        http_503 = self.http_503 and {"count": self.http_503[0], "path": self.http_503[1].pattern}
        return {
            "idle_drop": self.idle_drop,
            "freeze": not self.thawed.is_set(),
            "reset_after": self.reset_budget,
            "throttle": self.buckets[UP].rate if self.buckets else None,
            "http_503": http_503,
        }

    def describe(self) -> dict[str, Any]:
        """Ports, http flag and faults, for listings."""
        assert self.server is not None
        return {
            "listen_port": self.server.sockets[0].getsockname()[1],
            "target_port": self.target_port,
            "http": self.http,
            "faults": self.faults(),
        }

    def set_faults(self, faults: dict[str, Any]) -> dict[str, Any]:
        """Check every fault first, then merge them in (None clears one); returns all faults."""
        checked = {name: _check_fault(name, value, self.http) for name, value in faults.items()}
        for name, value in checked.items():
            if name == "freeze" and value:
                self.thawed.clear()
            elif name == "freeze":
                self.thawed.set()
            elif name == "idle_drop":
                self._watch_idle(value)
            elif name == "reset_after":
                self.reset_budget = value
            elif name == "throttle":
                self.buckets = {UP: _TokenBucket(value), DOWN: _TokenBucket(value)} if value else {}
            else:
                self.http_503 = value
        return self.faults()

    def answer_503(self, method: str, target: str) -> bool:
        """Log the request; True if the http_503 fault takes it (and counts it down)."""
        hit = self.http_503 is not None and self.http_503[1].search(target) is not None
        if hit and self.http_503 is not None:
            count, pattern = self.http_503
            self.http_503 = (count - 1, pattern) if count > 1 else None
        self.requests.append({"method": method, "path": target, "answered_503": hit})
        return hit

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio.start_server callback: relay one client connection until it ends."""
        self.accepted += 1
        conn = _Conn(self, reader, writer)
        self.conns.add(conn)
        try:
            await conn.run()
        finally:
            self.conns.discard(conn)

    def close(self) -> None:
        """Stop listening and reset every open connection."""
        if self.server is not None:
            self.server.close()
        self._watch_idle(None)
        for conn in list(self.conns):
            conn.reset()

    def _watch_idle(self, limit: float | None) -> None:
        if self.idle_task is not None:
            self.idle_task.cancel()
        self.idle_drop, self.idle_since = limit, time.monotonic()
        self.idle_task = (
            asyncio.get_running_loop().create_task(self._drop_idle(limit)) if limit else None
        )

    async def _drop_idle(self, limit: float) -> None:
        while True:
            now, wake = time.monotonic(), limit
            for conn in list(self.conns):
                left = max(conn.last_active, self.idle_since) + limit - now
                if left <= 0:
                    conn.reset()
                else:
                    wake = min(wake, left)
            await asyncio.sleep(wake)


class _Conn:
    """One client connection relayed to its route's target, under the route's faults."""

    def __init__(
        self, route: Route, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.route = route
        self.client = (reader, writer)
        self.server: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self.last_active = time.monotonic()
        self.task: asyncio.Task[Any] | None = None
        self.aborted = False

    async def run(self) -> None:
        self.task = asyncio.current_task()
        route = self.route
        try:
            await route.thawed.wait()
            self.server = await asyncio.wait_for(
                asyncio.open_connection(route.target_host, route.target_port), CONNECT_TIMEOUT
            )
            up = self._pump_http() if route.http else self._pump(self.client[0], UP)
            pumps = [asyncio.create_task(up), asyncio.create_task(self._pump(self.server[0], DOWN))]
            try:
                await asyncio.gather(*pumps)
            finally:
                for pump in pumps:
                    pump.cancel()
        except _Hangup:
            pass
        except (
            _Aborted,
            OSError,
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            MalformedRequest,
        ):
            self.reset()
        except asyncio.CancelledError:
            if not self.aborted:
                raise
        finally:
            for writer in self._writers():
                writer.close()

    def reset(self) -> None:
        """Abort both sides with an RST (SO_LINGER 0) and stop relaying."""
        self.aborted = True
        for writer in self._writers():
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
            writer.transport.abort()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()

    def _writers(self) -> list[asyncio.StreamWriter]:
        return [self.client[1]] + ([self.server[1]] if self.server else [])

    def _writer(self, direction: str) -> asyncio.StreamWriter:
        assert self.server is not None
        return self.server[1] if direction == UP else self.client[1]

    async def _pump(self, reader: asyncio.StreamReader, direction: str) -> None:
        while data := await reader.read(PIECE):
            await self._forward(direction, data)
            await asyncio.sleep(0)
        await self._forward_eof(direction)

    async def _pump_http(self) -> None:
        reader = self.client[0]
        prefix = await reader.read(1)
        if prefix and not prefix.isalpha():
            # not an HTTP request line (e.g. a client trying TLS first): relay it untouched
            await self._forward(UP, prefix)
            await self._pump(reader, UP)
            return
        while (head := await read_request_head(reader, prefix)) is not None:
            prefix = b""
            if self.route.answer_503(head.method, head.target):
                if not head.expects_continue:
                    async for _ in iter_body(reader, head):
                        pass
                await self.route.thawed.wait()
                self.client[1].write(RESPONSE_503)
                raise _Hangup
            await self._forward(UP, head.raw)
            async for piece in iter_body(reader, head):
                await self._forward(UP, piece)
            if head.upgrades:
                await self._pump(reader, UP)
                return
        await self._forward_eof(UP)

    async def _forward(self, direction: str, data: bytes) -> None:
        route, writer = self.route, self._writer(direction)
        while data:
            bucket = route.buckets.get(direction)
            step = bucket.burst if bucket else len(data)
            piece, data = data[:step], data[step:]
            await route.thawed.wait()
            if bucket is not None:
                await bucket.take(len(piece))
                await route.thawed.wait()
            if self.aborted:
                raise _Aborted
            budget = route.reset_budget
            if budget is not None:
                piece = piece[:budget]
                route.reset_budget = budget - len(piece) if len(piece) < budget else None
            writer.write(piece)
            route.bytes[direction] += len(piece)
            self.last_active = time.monotonic()
            if budget is not None and route.reset_budget is None:
                self.aborted = True
                writer.transport.set_write_buffer_limits(0)
                with contextlib.suppress(OSError, TimeoutError):
                    await asyncio.wait_for(writer.drain(), 1.0)
                self.reset()
                raise _Aborted
            await writer.drain()

    async def _forward_eof(self, direction: str) -> None:
        await self.route.thawed.wait()
        writer = self._writer(direction)
        if writer.can_write_eof():
            writer.write_eof()
