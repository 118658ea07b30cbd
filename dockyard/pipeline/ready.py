"""HTTP readiness of a new start-first container: GET its own address and port, from the host
through the link, until it answers the expected status or the wait bound is spent."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass

from dockyard.config.stack import ReadyCheck
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.pipeline.health import http_get
from dockyard.runner import Runner

INTERVAL = 0.25
"""Seconds between two attempts."""


@dataclass(frozen=True)
class Readiness:
    """The outcome of the HTTP check: ready or not, the URL asked, the last attempt's outcome
    (`status N` or the error) and how many attempts were made."""

    ready: bool
    url: str
    last: str
    attempts: int


def pick_address(text: str, project: str) -> str:
    """The container's IP from cmd.addresses' output: on the project's default network if it
    is attached to it, else on the first network (by name) that gave it one."""
    found = {}
    for line in text.splitlines():
        network, _, ip = line.strip().partition(" ")
        if network and ip.strip() and ip.strip() != "<no value>":
            found[network] = ip.strip()
    if not found:
        raise DeployError(f"the new container has no IP address on any network ({text[:200]!r})")
    return found.get(f"{project}_default") or found[sorted(found)[0]]


def url_of(ip: str, check: ReadyCheck) -> str:
    host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{check.port}{check.path}"


def wait_http(
    runner: Runner,
    deadline: Deadline,
    ip: str,
    check: ReadyCheck,
    bound: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Readiness:
    """GET check.path on ip:check.port until it answers check.status, each attempt within
    check.timeout (connect and whole answer; the body is read at most 64 KiB and only the
    status line counts), for at most `bound` seconds."""
    url = url_of(ip, check)
    ends = clock() + bound
    last, attempts = "no attempt made", 0
    while True:
        attempts += 1
        try:
            status = http_get(runner, url, deadline, check.timeout)
            last = f"status {status}"
            if status == check.status:
                return Readiness(True, url, last, attempts)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}".rstrip(": ")
        if clock() + INTERVAL >= ends:
            return Readiness(False, url, last, attempts)
        sleep(INTERVAL)
