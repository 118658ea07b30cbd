"""Is the stack healthy: compose container states, and HTTP checks through a Runner's tunnel."""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dockyard.deadline import Deadline
from dockyard.errors import HealthCheckFailed
from dockyard.runner import Runner
from dockyard.ssh.tls_channel import TlsStream, client_context


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

    @property
    def done(self) -> bool:
        """A one-shot's success: it exited 0."""
        return self.state == "exited" and self.exit_code == 0


def _shown(state: ContainerState) -> str:
    return f"exited {state.exit_code}" if state.state == "exited" else state.state


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


def unhealthy(
    states: Iterable[ContainerState], services: Iterable[str], one_shot: Collection[str] = ()
) -> list[str]:
    """Problems with the given services: missing, not running, or not healthy; a one-shot
    service is done when it exited 0 (or has no container: it ran as a job)."""
    by_service = {s.service: s for s in states}
    problems = []
    for service in services:
        found = by_service.get(service)
        if service in one_shot:
            if found is not None and not found.done:
                problems.append(f"{service}: one-shot {_shown(found)}, not exited 0")
        elif found is None:
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


@dataclass(frozen=True)
class HttpTarget:
    """Where a check URL goes: host and port as seen from the host, TLS or not, and the
    request target (path and query) and Host header sent."""

    host: str
    port: int
    tls: bool
    target: str
    host_header: str

    @classmethod
    def parse(cls, url: str) -> HttpTarget:
        parts = urlsplit(url)
        tls = parts.scheme == "https"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rpartition("@")[2]
        return cls(parts.hostname or "127.0.0.1", parts.port or (443 if tls else 80), tls,
                   target, host_header)  # fmt: skip


def http_get(
    runner: Runner, url: str, deadline: Deadline, cap: float, ca_file: Path | None = None
) -> int:
    """GET `url` as seen from the host, through the runner's tunnel, within `deadline` (`cap`
    seconds at most); https is TLS verified for the URL's host against the system CA bundle,
    or only `ca_file`. The whole call ends in that time on the wall clock (the channel is
    closed under a server that trickles its answer), raising TimeoutError."""
    where = HttpTarget.parse(url)
    context = client_context(ca_file) if where.tls else None
    started = time.monotonic()
    timeout = deadline.left(cap)
    channel = runner.open_tunnel(where.host, where.port, deadline=deadline, cap=cap)
    fired = threading.Event()

    def cut() -> None:
        fired.set()  # before the close wakes the reader
        channel.close()

    watchdog = threading.Timer(max(0.0, timeout - (time.monotonic() - started)), cut)
    watchdog.start()
    try:
        sock = TlsStream(channel, context, where.host) if context else channel
        conn = http.client.HTTPConnection(where.host, where.port, timeout=timeout)
        conn.sock = sock  # type: ignore[assignment]
        conn.request("GET", where.target, headers={"Host": where.host_header,
                                                    "Connection": "close"})  # fmt: skip
        response = conn.getresponse()
        response.read(65536)
        if fired.is_set():
            raise TimeoutError(f"no whole answer within {timeout:.3g} s")
        return response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if fired.is_set():
            raise TimeoutError(f"no whole answer within {timeout:.3g} s") from exc
        raise
    finally:
        watchdog.cancel()
        channel.close()


def check_http(
    runner: Runner,
    url: str,
    *,
    status: int,
    attempts: int,
    interval: float,
    deadline: Deadline,
    timeout: float,
    ca_file: Path | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> HttpResult:
    """Retry a GET until it answers `status`; raise HealthCheckFailed after `attempts`. Each
    attempt takes `timeout` at most, within `deadline` (`ca_file`: the CA that signs an https
    URL's certificate, instead of the system's)."""
    last: int | None = None
    error = ""
    for attempt in range(1, attempts + 1):
        try:
            last = http_get(runner, url, deadline, timeout, ca_file)
            error = ""
        except ssl.SSLCertVerificationError as exc:
            error = f"TLS certificate not trusted: {exc.verify_message or exc}; set ca_file"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
        if last == status and not error:
            return HttpResult(url, last, attempt)
        if attempt < attempts:
            sleep(interval)
    seen = error or f"status {last}"
    raise HealthCheckFailed(f"{url} did not answer {status} after {attempts} attempts ({seen})")
