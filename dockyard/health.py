"""Is the stack healthy: compose container states and HTTP checks made through the SSH link."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from dockyard.errors import HealthCheckFailed
from dockyard.ssh.link import Link


@dataclass(frozen=True)
class ContainerState:
    """One container of the project as `compose ps` reports it."""

    service: str
    name: str
    state: str
    health: str
    exit_code: int
    image: str
    id: str

    @property
    def ok(self) -> bool:
        return self.state == "running" and self.health in ("", "healthy")


def parse_ps(output: str) -> list[ContainerState]:
    """`compose ps --format json` output: a JSON array or one object per line."""
    text = output.strip()
    if not text:
        return []
    rows = json.loads(text) if text.startswith("[") else [json.loads(x) for x in text.splitlines()]
    return [
        ContainerState(
            r.get("Service", ""),
            r.get("Name", ""),
            r.get("State", ""),
            r.get("Health", ""),
            int(r.get("ExitCode", 0) or 0),
            r.get("Image", ""),
            r.get("ID", ""),
        )
        for r in rows
    ]


def unhealthy(states: Iterable[ContainerState], services: Iterable[str]) -> list[str]:
    """Problems with the given services: missing, not running, or not healthy."""
    by_service = {s.service: s for s in states}
    problems = []
    for service in services:
        found = by_service.get(service)
        if found is None:
            problems.append(f"{service}: no container")
        elif not found.ok:
            health = f", health {found.health}" if found.health else ""
            problems.append(f"{service}: {found.state} (exit {found.exit_code}{health})")
    return problems


@dataclass(frozen=True)
class HttpResult:
    """The outcome of one HTTP check: the last status seen and how many attempts it took."""

    url: str
    status: int | None
    attempts: int
    error: str = ""


def http_get(link: Link, url: str, timeout: float) -> int:
    """GET `url` as seen from the host, through a direct-tcpip channel of the link."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    channel = link.open_direct_tcpip(parts.hostname or "127.0.0.1", port, timeout=timeout)
    try:
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", port, timeout=timeout)
        conn.sock = channel  # type: ignore[assignment]
        conn.request("GET", parts.path or "/", headers={"Connection": "close"})
        response = conn.getresponse()
        response.read(65536)
        return response.status
    finally:
        channel.close()


def check_http(
    link: Link,
    url: str,
    *,
    status: int,
    attempts: int,
    interval: float,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpResult:
    """Retry a GET until it answers `status`; raise HealthCheckFailed after `attempts`."""
    last: int | None = None
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            last = http_get(link, url, timeout)
            error = ""
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if last == status and not error:
            return HttpResult(url, last, attempt)
        if attempt < attempts:
            sleep(interval)
    seen = error or f"status {last}"
    raise HealthCheckFailed(f"{url} did not answer {status} after {attempts} attempts ({seen})")
