"""Start-first replacement of one service: a new container beside each old one, health-gated,
the old one drained then removed, never fewer healthy containers than the service runs.

It decides from the containers the host has (compose's config-hash and image labels against
the project directory's files), so a run killed mid-replacement is finished or undone by the
next one: a new container that is not healthy is removed, a healthy one lets an old go."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.commands import replace as cmd
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.pipeline import ready
from dockyard.runner import Runner
from dockyard.session import HostStack


class ReplaceFailed(DeployError):
    """The new container of a start-first service did not become healthy; it was removed and
    the old one kept serving."""


@dataclass(frozen=True)
class Container:
    """One container of the service as `docker inspect` shows it."""

    id: str
    number: int
    config_hash: str
    image: str
    status: str
    health: str

    @property
    def healthy(self) -> bool:
        return self.status == "running" and self.health == "healthy"


@dataclass(frozen=True)
class ServiceState:
    """The service's target (config hash, image id) and its containers."""

    config_hash: str
    image: str
    containers: tuple[Container, ...]

    def current(self, c: Container) -> bool:
        """Whether `c` is what the project's files ask for (compose would keep it)."""
        return c.config_hash == self.config_hash and (self.image == "-" or c.image == self.image)


@dataclass(frozen=True)
class Replaced:
    """What the replacement of one service did (report notes)."""

    service: str
    replaced: int
    healthy_after: float
    overlap: float
    removed_leftovers: int = 0

    def note(self) -> str:
        if not self.replaced:
            extra = f" (removed {self.removed_leftovers} unfinished new container(s))"
            done = f"replace {self.service}: no container differs from the release"
            return done + (extra if self.removed_leftovers else "")
        return (f"replace {self.service}: {self.replaced} container(s); new container healthy "
                f"after {self.healthy_after:.1f} s, old drained, overlap "
                f"{self.overlap:.1f} s")  # fmt: skip


def parse_state(text: str) -> ServiceState:
    """A ServiceState from cmd.service_state's output."""
    config_hash, image, found = "", "-", []
    for line in text.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "hash":
            config_hash = rest.split()[-1] if rest.split() else ""
        elif kind == "image":
            image = rest.strip() or "-"
        elif kind == "ctr":
            parts = rest.split()
            if len(parts) == 6 and parts[1].isdigit():
                found.append(Container(parts[0], int(parts[1]), *parts[2:]))
    if not config_hash:
        raise DeployError(f"compose printed no config hash: {text[:200]!r}")
    return ServiceState(config_hash, image, tuple(sorted(found, key=lambda c: c.number)))


def read_state(hs: HostStack, runner: Runner, deadline: Deadline, service: str,
               image: str) -> ServiceState:  # fmt: skip
    """The service's target and containers, in one round trip."""
    out = runner.run(cmd.service_state(hs.project, service, image), deadline=deadline, quiet=True)
    return parse_state(out.stdout)


def replace_service(
    hs: HostStack, runner: Runner, deadline: Deadline, service: str, image: str, count: int,
) -> Replaced:  # fmt: skip
    """Replace every container of `service` that differs from the project directory's files
    (switched to the release already), one at a time: start one beside, wait for its health,
    drain and remove an old one. `count` is the service's replica count."""
    state = read_state(hs, runner, deadline, service, image)
    old = [c for c in state.containers if not state.current(c)]
    leftovers = [c for c in state.containers if state.current(c) and not c.healthy]
    if not old:
        return Replaced(service, 0, 0.0, 0.0)
    for c in leftovers:  # a new container of an interrupted run that is not healthy
        runner.run(cmd.remove(c.id), deadline=deadline)
    new = [c for c in state.containers if state.current(c) and c.healthy]
    known = {c.id for c in state.containers} - {c.id for c in leftovers}
    old.sort(key=lambda c: (c.status == "running", c.number))
    replaced, healthy_after, overlap = 0, 0.0, 0.0
    while old:
        began = time.monotonic()
        if len(new) + len(old) <= count:
            started, waited = _start_one(hs, runner, deadline, service, image, len(new) + len(old),
                                         known)  # fmt: skip
            known.add(started.id)
            new.append(started)
            healthy_after = max(healthy_after, waited)
        _drain(hs, runner, deadline, service, old.pop(0))
        overlap = max(overlap, time.monotonic() - began)
        replaced += 1
    if hs.stack.up.reload:
        reload = hs.stack.up.reload
        runner.run(hs.project.exec(reload.service, reload.command), deadline=deadline)
    return Replaced(service, replaced, healthy_after, overlap, len(leftovers))


def _start_one(
    hs: HostStack, runner: Runner, deadline: Deadline, service: str, image: str, existing: int,
    known: set[str],
) -> tuple[Container, float]:  # fmt: skip
    """Start one more container of `service` (`known`: the ids that existed before, read
    once by the caller) and wait until it is ready (within up.wait_timeout
    or the time left): its healthcheck passed, and its up.http_check if it has one (either
    alone when it has only one of them); on failure remove it and raise ReplaceFailed with its
    health log and log tail."""
    began = time.monotonic()
    scaled = runner.run(cmd.scale_up(hs.project, service, existing + 1), deadline=deadline)
    after = read_state(hs, runner, deadline, service, image)
    started = [c for c in after.containers if c.id not in known and after.current(c)]
    if len(started) != 1:
        raise DeployError(
            f"{_where(hs)}: compose did not start exactly one new container of {service} "
            f"(started {len(started)}; listed after: {_listed(after)}; "
            f"compose said: {hs.mask((scaled.stdout + scaled.stderr).strip()[-600:])}); "
            f"check `docker compose ps {service}` on the host"
        )
    new = started[0]
    bound = max(1.0, min(hs.stack.up.wait_timeout, deadline.left() - 10))
    done = runner.run(cmd.wait_healthy(new.id, bound), deadline=deadline, check=False, quiet=True)
    check = hs.stack.up.http_check.get(service)
    why = {
        cmd.UNHEALTHY: "became unhealthy or stopped",
        cmd.TIMED_OUT: f"was not healthy within {bound:.0f} s (up.wait_timeout)",
        cmd.NO_HEALTHCHECK: "has no healthcheck, so its readiness cannot be told",
        cmd.GONE: "disappeared",
    }.get(done.exit_status, f"could not be checked (exit {done.exit_status})")
    fix = "fix the release (its health log and log tail are above) and deploy again"
    if done.exit_status == cmd.HEALTHY and check is None:
        return new, time.monotonic() - began
    if done.exit_status in (cmd.HEALTHY, cmd.NO_HEALTHCHECK) and check is not None:
        left = max(1.0, bound - (time.monotonic() - began))
        found = runner.run(cmd.addresses(new.id), deadline=deadline, check=False, quiet=True)
        try:
            ip = ready.pick_address(found.stdout, hs.project.project)
        except DeployError as exc:
            why = f"could not be reached for its up.http_check: {exc}"
        else:
            outcome = ready.wait_http(runner, deadline, ip, check, left)
            if outcome.ready:
                return new, time.monotonic() - began
            why = (f"did not answer {check.status} at {outcome.url} within {left:.0f} s "
                   f"(up.http_check; last attempt: {outcome.last})")  # fmt: skip
    elif done.exit_status == cmd.NO_HEALTHCHECK:
        fix = (f"add a healthcheck to the service or an up.http_check.{service} (start-first "
               "waits for it)")  # fmt: skip
    report = runner.run(cmd.failure_report(new.id), deadline=deadline, check=False, quiet=True)
    runner.run(cmd.remove(new.id), deadline=deadline, check=False)
    raise ReplaceFailed(
        f"{_where(hs)}: the new container of {service} {why}; it was removed and the old "
        f"one keeps serving. {hs.mask(report.stdout.strip()[-2000:])}\n{fix}"
    )


def _drain(hs: HostStack, runner: Runner, deadline: Deadline, service: str, old: Container) -> None:
    pre_stop: Sequence[str] = hs.stack.up.pre_stop.get(service, ())
    done = runner.run(cmd.drain(old.id, pre_stop, hs.stack.up.drain), deadline=deadline,
                      check=False, quiet=True)  # fmt: skip
    if done.exit_status != 0:
        raise DeployError(
            f"{_where(hs)}: stopping the old container of {service} failed (exit "
            f"{done.exit_status}): {hs.mask(done.stderr.strip()[-500:])}; the new one serves, "
            "remove the old one by hand (docker rm -f) or deploy again"
        )
    if "pre_stop failed" in done.stderr:
        hs.log(f"pre_stop of {service} failed in the old container; it was drained anyway")


def _listed(state: ServiceState) -> str:
    shown = [f"#{c.number} {c.id[:12]} {c.status}/{c.health}"
             + ("" if state.current(c) else " (differs)") for c in state.containers]  # fmt: skip
    return ", ".join(shown) or "none"


def _where(hs: HostStack) -> str:
    return f"{hs.target.name}/{hs.stack.project}"
