"""One-shot services (done when they exited 0) and how `up` starts a stack that has them.

A service is one-shot when the config says so (`stacks[].one_shot`), when a `run` job runs it
as defined (no command: the service is the job), or when another service waits for it with
`condition: service_completed_successfully`. compose's `up --wait` fails on any other service
that exits, so `up` waits on the long-running services only."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.config import JobConfig

COMPLETED = "service_completed_successfully"


def completion_targets(config: Mapping[str, Any]) -> frozenset[str]:
    """Services another service depends on with `condition: service_completed_successfully`
    (compose's resolved config: depends_on is a mapping)."""
    found = set()
    for spec in (config.get("services") or {}).values():
        depends = spec.get("depends_on") or {}
        if isinstance(depends, Mapping):
            found |= {
                name
                for name, dep in depends.items()
                if isinstance(dep, Mapping) and dep.get("condition") == COMPLETED
            }
    return frozenset(found)


def job_services(jobs: Iterable[JobConfig]) -> frozenset[str]:
    """Services a `run` job runs as defined: the job is the service, so `up` leaves it out."""
    return frozenset(j.service for j in jobs if j.kind == "run" and j.command is None)


def one_shot_services(
    config: Mapping[str, Any], declared: Iterable[str], jobs: Iterable[JobConfig]
) -> tuple[str, ...]:
    """Every one-shot service of the resolved config, sorted."""
    services = set(config.get("services") or {})
    wanted = set(declared) | job_services(jobs) | completion_targets(config)
    return tuple(sorted(wanted & services))


@dataclass(frozen=True)
class UpServices:
    """What `up` starts: `wait` the services compose waits on (None: every active one, as a
    plain `up --wait`), then `start` the one-shots nothing else starts, without waiting (the
    health step sees them exit 0)."""

    wait: tuple[str, ...] | None = None
    start: tuple[str, ...] = ()


EVERY_SERVICE = UpServices()
"""A plain `up --wait` of every active service: a stack without one-shots."""


def up_services(
    active: Iterable[str], one_shot: Iterable[str], jobs: Iterable[str] = (),
    completion: Iterable[str] = (),
) -> UpServices:  # fmt: skip
    """The split for `up`: with no active one-shot, every service as compose would; else the
    long-running ones waited on (their `service_completed_successfully` dependencies run as
    compose runs them), then the declared one-shots that are neither jobs nor such a
    dependency."""
    active, one_shot = tuple(active), frozenset(one_shot)
    if not one_shot & set(active):
        return UpServices()
    skip = set(jobs) | set(completion)
    return UpServices(
        tuple(s for s in active if s not in one_shot),
        tuple(s for s in active if s in one_shot and s not in skip),
    )
