"""The health step: compose health of the running services, HTTP checks and post-deploy hooks."""

from __future__ import annotations

import time

from dockyard.deadline import Deadline
from dockyard.errors import HealthCheckFailed
from dockyard.health import ContainerState, check_http, parse_ps, unhealthy
from dockyard.session import HostStack
from dockyard.ssh.errors import CommandFailed


def _settled_states(
    hs: HostStack, services: tuple[str, ...], deadline: Deadline, one_shot: tuple[str, ...] = (),
    poll: float = 1.0,
) -> list[ContainerState]:  # fmt: skip
    """Container states once no service is still `starting` (e.g. just restarted) and no
    one-shot still runs, or at the stack's wait timeout."""
    settle_by = time.monotonic() + min(hs.stack.up.wait_timeout, deadline.left())
    while True:
        out = hs.runner.run(hs.project.ps_json(), deadline=deadline, quiet=True).stdout
        states = parse_ps(out)
        starting = [s for s in states if s.service in services and s.health == "starting"]
        starting += [s for s in states if s.service in one_shot and s.state != "exited"]
        if not starting or time.monotonic() >= settle_by:
            return states
        time.sleep(poll)


def check(
    hs: HostStack, services: tuple[str, ...], deadline: Deadline, one_shot: tuple[str, ...] = ()
) -> list[str]:
    """Run every configured check within the step's deadline (a one-shot service passes when
    it exited 0); returns what passed, raises HealthCheckFailed on the first failure
    (StepTimeout when the step's time runs out)."""
    health = hs.stack.health
    passed = []

    def pause(seconds: float) -> None:
        deadline.check("waiting between HTTP attempts")
        time.sleep(min(seconds, deadline.left()))

    if health.compose:
        states = _settled_states(hs, services, deadline, one_shot)
        problems = unhealthy(states, services, one_shot)
        if problems:
            raise HealthCheckFailed(f"{hs.target.name}: unhealthy services: {'; '.join(problems)}")
        done = len([s for s in services if s in one_shot])
        ran = f", {done} one-shot(s) done" if done else ""
        passed.append(f"compose: {len(services) - done} services running and healthy{ran}")
    for http in health.http:
        deadline.check(f"GET {http.url}")
        result = check_http(
            hs.link, http.url, status=http.status, attempts=http.attempts,
            interval=http.interval, timeout=deadline.left(http.timeout), ca_file=http.ca_file,
            sleep=pause,
        )  # fmt: skip
        passed.append(f"{http.url}: {result.status} after {result.attempts} attempt(s)")
    for hook in health.hooks:
        if hook.http:
            deadline.check(f"hook {hook.name}")
            result = check_http(hs.link, hook.http, status=200, attempts=1, interval=0,
                                timeout=deadline.left(hook.timeout))  # fmt: skip
            passed.append(f"hook {hook.name}: {result.status}")
            continue
        argv = hs.project.exec(hook.service or "", hook.command or [])
        try:
            hs.runner.run(argv, deadline=deadline, cap=hook.timeout)
        except CommandFailed as exc:
            raise HealthCheckFailed(
                f"hook {hook.name} failed: exit {exc.exit_status}: {hs.mask(exc.stderr_tail)}"
            ) from exc
        passed.append(f"hook {hook.name}: ok")
    return passed
