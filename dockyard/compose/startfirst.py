"""Which services may be replaced start-first (two containers side by side), their dependency
order and replica count, read from a compose config's services (pure)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dockyard.compose.oneshot import completion_targets, job_services
from dockyard.config import StackConfig


@dataclass(frozen=True)
class Unsafe:
    """A start-first service that cannot run twice side by side: why, and the fix."""

    service: str
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"service {self.service}: {self.problem}; {self.fix}"


def _published(port: Any) -> str | None:
    """The host port a `ports` entry publishes (short or long syntax), or None (container-only;
    compose then picks a free host port per container)."""
    if isinstance(port, Mapping):
        published = port.get("published")
        return None if published in (None, "") else str(published)
    if isinstance(port, int):
        return None
    text = str(port).split("/", 1)[0]
    if text.startswith("["):  # [::1]:8080:80
        text = text.rsplit("]", 1)[-1].lstrip(":")
    parts = text.rsplit(":", 2)
    if len(parts) == 1:
        return None
    return parts[-2] or None


def fixed_ports(spec: Mapping[str, Any]) -> list[str]:
    """The single host ports a service publishes: a second container could not bind them (a
    range lets each container take its own port)."""
    found = []
    for port in spec.get("ports") or ():
        published = _published(port)
        if published is not None and "-" not in published:
            found.append(published)
    return found


def healthcheck_disabled(spec: Mapping[str, Any]) -> bool:
    """Whether the compose file turns the service's healthcheck off (`disable: true` or
    `test: [NONE]`). A service without a `healthcheck` key may still have its image's."""
    check = spec.get("healthcheck")
    if not isinstance(check, Mapping):
        return False
    test = check.get("test")
    none = test == "NONE" or (isinstance(test, Sequence) and list(test)[:1] == ["NONE"])
    return check.get("disable") in (True, "true") or none


def unsafe(
    services: Mapping[str, Mapping[str, Any]],
    start_first: Iterable[str],
    jobs: Iterable[str],
    http_checked: Collection[str] = (),
) -> list[Unsafe]:
    """Every reason a listed service cannot be replaced start-first: a fixed host port,
    container_name, a job service, a service others wait on to complete, a disabled
    healthcheck (`http_checked`: services with an up.http_check, named in the fix)."""
    jobs = set(jobs)
    completing = completion_targets({"services": services})
    found = []
    for name in start_first:
        spec = services.get(name)
        if spec is None:
            continue
        if ports := fixed_ports(spec):
            found.append(Unsafe(
                name, f"publishes fixed host port {', '.join(ports)}, which two containers "
                "cannot share", "publish a container-only port or a range (e.g. 18080-18081:8080) "
                "and route through the stack's proxy, or drop it from up.start_first",
            ))  # fmt: skip
        if spec.get("container_name"):
            found.append(Unsafe(
                name, f"has container_name {spec['container_name']!r}, which two containers "
                "cannot share", "remove container_name, or drop it from up.start_first",
            ))  # fmt: skip
        if healthcheck_disabled(spec):
            found.append(Unsafe(
                name, "has its healthcheck disabled, so the new container's readiness cannot be "
                "told (and `compose up --wait` refuses such a container)",
                f"drop `healthcheck: disable` and set up.http_check.{name} (dockyard then GETs "
                "the new container), or give the service a healthcheck"
                if name not in http_checked else "drop `healthcheck: disable` (up.http_check."
                f"{name} is its readiness; compose waits on a service without one as running)",
            ))  # fmt: skip
        if name in jobs:
            found.append(Unsafe(name, "is a job service (it runs once and exits)",
                                "drop it from up.start_first"))  # fmt: skip
        if name in completing:
            found.append(Unsafe(
                name, "is a dependency other services wait on to complete "
                "(service_completed_successfully): a one-shot", "drop it from up.start_first",
            ))  # fmt: skip
    return found


def job_like(stack: StackConfig) -> set[str]:
    """Services the stack runs as jobs (a `run` job of the service as defined) or declares
    one-shot: they exit when done, so there is nothing to replace start-first."""
    return set(job_services(stack.jobs)) | set(stack.one_shot)


def _depends(spec: Mapping[str, Any]) -> list[str]:
    depends = spec.get("depends_on") or ()
    return list(depends) if isinstance(depends, Mapping | Sequence) else []


def in_order(services: Mapping[str, Mapping[str, Any]], start_first: Sequence[str]) -> list[str]:
    """`start_first` in dependency order (a service after those it depends on, directly or
    not), otherwise as listed."""
    listed = [s for s in start_first if s in services]
    done: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in services:
            return
        seen.add(name)
        for dep in _depends(services[name]):
            visit(dep)
        if name in listed:
            done.append(name)

    for name in listed:
        visit(name)
    return done


def replicas(spec: Mapping[str, Any]) -> int:
    """How many containers the service runs: `scale`, else `deploy.replicas`, else 1."""
    deploy = spec.get("deploy") or {}
    for value in (
        spec.get("scale"),
        deploy.get("replicas") if isinstance(deploy, Mapping) else None,
    ):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    return 1


@dataclass(frozen=True)
class ReplaceSpec:
    """One start-first service to replace: its image (as the config names it) and replicas."""

    service: str
    image: str
    replicas: int


def specs(
    services: Mapping[str, Mapping[str, Any]], start_first: Sequence[str], active: Iterable[str]
) -> tuple[ReplaceSpec, ...]:
    """The active start-first services in dependency order, with image and replica count."""
    active = set(active)
    return tuple(
        ReplaceSpec(name, str(services[name].get("image") or ""), replicas(services[name]))
        for name in in_order(services, start_first)
        if name in active
    )
