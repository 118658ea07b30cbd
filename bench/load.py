"""A bounded HTTP load generator on loopback, and the tally of what it saw."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

RATE = 50.0  # requests per second
TIMEOUT = 5.0  # seconds per request
MAX_SECONDS = 900.0  # a generator never runs longer than this, whatever its caller does
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class Sample:
    """One request: when it was sent and answered (monotonic s), its status or error kind."""

    sent: float
    done: float
    status: int | None = None
    error: str = ""  # "connection" or "timeout" when no status came back
    body: str = ""


def outcome(sample: Sample) -> str:
    """ok, or why the request failed: connection, timeout or 5xx (a 4xx is an answer)."""
    if sample.error:
        return sample.error
    if sample.status is None or sample.status >= 500:
        return "5xx"
    return "ok"


@dataclass(frozen=True)
class LoadResult:
    """What the load saw: counts per outcome, the longest time without a success, versions."""

    requests: int
    failed: int
    by_outcome: dict[str, int]
    longest_gap_s: float
    seconds: float
    versions: dict[str, int] = field(default_factory=dict)


def tally(samples: Iterable[Sample], started: float, stopped: float) -> LoadResult:
    """Count `samples` of a load that ran from `started` to `stopped`. The longest gap is the
    longest time between two successful answers, counting the load's start and stop as
    bounds: an outage at either end is a gap too."""
    ordered = sorted(samples, key=lambda s: s.sent)
    outcomes = Counter(outcome(s) for s in ordered)
    successes = sorted(s.done for s in ordered if outcome(s) == "ok")
    marks = [started, *successes, max(stopped, *successes) if successes else stopped]
    gap = max(b - a for a, b in itertools.pairwise(marks))
    versions = Counter(s.body for s in ordered if outcome(s) == "ok" and s.body)
    return LoadResult(
        requests=len(ordered),
        failed=len(ordered) - outcomes["ok"],
        by_outcome=dict(sorted(outcomes.items())),
        longest_gap_s=round(gap, 3),
        seconds=round(stopped - started, 3),
        versions=dict(sorted(versions.items())),
    )


def check_loopback(url: str) -> None:
    """Refuse a URL off this machine: the load generator only hits loopback."""
    host = urlsplit(url).hostname
    if host not in LOOPBACK:
        raise ValueError(f"load target {url!r} is not on loopback (127.0.0.1, ::1, localhost)")


class LoadGenerator:
    """GET `url` at `rate` per second from a thread until stopped (or MAX_SECONDS), each
    request with its own `timeout`; at most rate x timeout requests are ever in flight."""

    def __init__(
        self,
        url: str,
        rate: float = RATE,
        timeout: float = TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_loopback(url)
        self.url = url
        self.rate = rate
        self.timeout = timeout
        self._clock = clock
        self._stop = threading.Event()
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.started = 0.0
        self.stopped = 0.0

    def __enter__(self) -> LoadGenerator:
        self.started = self._clock()
        self._thread = threading.Thread(target=self._run, name="bench-load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        """Stop sending, wait for the requests in flight, and tally."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.stopped = self._clock()
        with self._lock:
            samples = list(self._samples)
        return tally(samples, self.started, self.stopped)

    def _run(self) -> None:
        workers = max(1, int(self.rate * self.timeout))
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        with (
            httpx.Client(timeout=self.timeout, limits=limits) as client,
            ThreadPoolExecutor(workers, thread_name_prefix="bench-load") as pool,
        ):
            interval = 1.0 / self.rate
            due = self.started
            while not self._stop.is_set() and self._clock() - self.started < MAX_SECONDS:
                pool.submit(self._one, client)
                due += interval
                self._stop.wait(max(0.0, due - self._clock()))

    def _one(self, client: httpx.Client) -> None:
        sent = self._clock()
        try:
            response = client.get(self.url)
            body = response.text.strip()[:40]
            sample = Sample(sent, self._clock(), response.status_code, body=body)
        except httpx.TimeoutException:
            sample = Sample(sent, self._clock(), error="timeout")
        except httpx.TransportError:
            sample = Sample(sent, self._clock(), error="connection")
        with self._lock:
            self._samples.append(sample)
