"""The health step: compose health of the running services, HTTP checks and post-deploy hooks."""

from __future__ import annotations

import time

from dockyard.errors import HealthCheckFailed
from dockyard.health import ContainerState, check_http, parse_ps, unhealthy
from dockyard.session import HostStack
from dockyard.ssh.errors import CommandFailed


def _settled_states(
    hs: HostStack, services: tuple[str, ...], timeout: float, poll: float = 1.0
) -> list[ContainerState]:
    """Container states once no service is still `starting` (e.g. just restarted), or at the
    stack's wait timeout."""
    deadline = time.monotonic() + hs.stack.up.wait_timeout
    while True:
        states = parse_ps(hs.link.run(hs.project.ps_json(), timeout=timeout).stdout)
        starting = [s for s in states if s.service in services and s.health == "starting"]
        if not starting or time.monotonic() >= deadline:
            return states
        time.sleep(poll)


def check(hs: HostStack, services: tuple[str, ...], timeout: float) -> list[str]:
    """Run every configured check; returns what passed, raises HealthCheckFailed on the first
    failure."""
    health = hs.stack.health
    passed = []
    if health.compose:
        states = _settled_states(hs, services, timeout)
        problems = unhealthy(states, services)
        if problems:
            raise HealthCheckFailed(f"{hs.target.name}: unhealthy services: {'; '.join(problems)}")
        passed.append(f"compose: {len(services)} services running and healthy")
    for http in health.http:
        result = check_http(
            hs.link, http.url, status=http.status, attempts=http.attempts,
            interval=http.interval, timeout=http.timeout, ca_file=http.ca_file, sleep=time.sleep,
        )  # fmt: skip
        passed.append(f"{http.url}: {result.status} after {result.attempts} attempt(s)")
    for hook in health.hooks:
        if hook.http:
            result = check_http(hs.link, hook.http, status=200, attempts=1, interval=0,
                                timeout=hook.timeout)  # fmt: skip
            passed.append(f"hook {hook.name}: {result.status}")
            continue
        argv = [*hs.project.base(), "exec", "-T", hook.service or "", *(hook.command or [])]
        try:
            hs.run(argv, timeout=hook.timeout)
        except CommandFailed as exc:
            raise HealthCheckFailed(
                f"hook {hook.name} failed: exit {exc.exit_status}: {hs.mask(exc.stderr_tail)}"
            ) from exc
        passed.append(f"hook {hook.name}: ok")
    return passed
