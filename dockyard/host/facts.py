"""Host facts: read the facts document (dockyard/commands/facts.py) in one round trip and parse it
into typed facts. A deploy reads them once per stack (preflight) and hands them to the steps
that need them (converge, the disk gate); the record reads what runs after `up` alone."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.commands.facts import FACTS_VERSION, host_facts, stack_containers
from dockyard.converge.verdict import RunningContainer
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.host.releases import record_problem
from dockyard.images.plan import LocalImage
from dockyard.session import HostStack

SERVICE = "com.docker.compose.service"
CONFIG_HASH = "com.docker.compose.config-hash"
PROJECT = "com.docker.compose.project"
ONE_OFF = "com.docker.compose.oneoff"
FACTS_CAP = 60.0


class FactsError(DeployError):
    """The host-facts script printed something that is not its JSON document."""


@dataclass(frozen=True)
class Disk:
    """DockerRootDir's filesystem, in bytes."""

    size: int
    available: int


@dataclass(frozen=True)
class HostFacts:
    """What one read of the host says: engine, disk, images, the stack's containers and state."""

    docker_version: str | None
    compose_version: str | None
    root_dir: str | None
    disk: Disk | None
    images: tuple[LocalImage, ...]
    containers: tuple[RunningContainer, ...]
    lock: str | None
    attempt: str | None
    release_head: dict[str, Any] | None

    def image(self, image_id: str) -> LocalImage | None:
        return next((i for i in self.images if i.id == image_id), None)


def parse(output: str, host: str) -> HostFacts:
    """The facts of `host` from the script's stdout; FactsError names the host and what is off."""
    try:
        doc = json.loads(output)
    except ValueError as exc:
        raise FactsError(f"{host}: the host-facts script printed no JSON document ({exc}); "
                         "fix: check that the login shell prints nothing (no motd on stdout)"
                         ) from None  # fmt: skip
    if not isinstance(doc, dict) or doc.get("facts") != FACTS_VERSION:
        raise FactsError(f"{host}: host facts are not version {FACTS_VERSION}; fix: run the "
                         "same dockyard version that wrote the script")  # fmt: skip
    try:
        images = tuple(_image(i) for i in doc["images"])
        digests = {i.id: i.repo_digests for i in images}
        containers = tuple(_container(c, digests) for c in doc["containers"])
        df = doc.get("df")
        disk = Disk(int(df["size_kb"]) * 1024, int(df["avail_kb"]) * 1024) if df else None
    except (KeyError, TypeError, ValueError) as exc:
        raise FactsError(f"{host}: host facts are malformed ({type(exc).__name__}: {exc}); "
                         "fix: report this output as a dockyard bug") from None  # fmt: skip
    head = _decoded(doc.get("release_head"), host, "release_head")
    return HostFacts(
        docker_version=doc.get("docker"),
        compose_version=doc.get("compose"),
        root_dir=doc.get("root_dir"),
        disk=disk,
        images=images,
        containers=containers,
        lock=_decoded(doc.get("lock"), host, "lock"),
        attempt=_decoded(doc.get("attempt"), host, "attempt"),
        release_head=_release(head, host),
    )


def _image(i: Mapping[str, Any]) -> LocalImage:
    return LocalImage(str(i["id"]), tuple(i.get("tags") or ()), tuple(i.get("digests") or ()))


def _container(c: Mapping[str, Any], digests: Mapping[str, tuple[str, ...]]) -> RunningContainer:
    labels = c.get("labels") or {}
    return RunningContainer(
        name=str(c["name"]).lstrip("/"),
        service=str(labels.get(SERVICE, "")),
        image_id=str(c["image"]),
        config_hash=str(labels.get(CONFIG_HASH, "")),
        state=str(c["state"]),
        health=str(c.get("health") or ""),
        exit_code=int(c.get("exit_code") or 0),
        repo_digests=digests.get(str(c["image"]), ()),
        one_off=str(labels.get(ONE_OFF, "")).lower() == "true",
    )


def _decoded(value: Any, host: str, name: str) -> str | None:
    if value is None:
        return None
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise FactsError(f"{host}: host fact {name} is not base64 text ({exc}); fix: check the "
                         "file under .dockyard/ on the host") from None  # fmt: skip


def _release(line: str | None, host: str) -> dict[str, Any] | None:
    if not line or not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise FactsError(f"{host}: the last line of .dockyard/releases.jsonl is not a release "
                         "record; fix: repair or remove that line")  # fmt: skip
    if problem := record_problem(record):
        raise FactsError(f"{host}: the last line of .dockyard/releases.jsonl is not a valid "
                         f"release record ({problem}); fix: repair or remove it")  # fmt: skip
    return record


def read_facts(hs: HostStack, deadline: Deadline) -> HostFacts:
    """The facts of `hs`'s host and stack, from one remote script."""
    script = host_facts(hs.stack.project, hs.project.state)
    out = hs.runner.run(script, deadline=deadline, cap=FACTS_CAP, quiet=True)
    return parse(out.stdout, hs.target.name)


PREFETCH_MAX_AGE = 60.0  # seconds a prefetched read stands in for preflight's own

_prefetched: dict[tuple[str, str, str], tuple[float, HostFacts]] = {}
_prefetched_lock = threading.Lock()


def _prefetch_key(hs: HostStack) -> tuple[str, str, str]:
    return (hs.target.name, hs.stack.project, hs.loaded.release)


def prefetch(hs: HostStack, deadline: Deadline) -> HostFacts:
    """read_facts, also kept for this process's next `facts_for` of the same host, stack and
    release: the CLI's pre-flow convergence check and then the flow's preflight make one read
    of the host per stack per deploy."""
    facts = read_facts(hs, deadline)
    with _prefetched_lock:
        _prefetched[_prefetch_key(hs)] = (time.monotonic(), facts)
    return facts


def facts_for(hs: HostStack, deadline: Deadline) -> HostFacts:
    """The facts a prefetch in this process left for `hs` (taken once, if under
    PREFETCH_MAX_AGE old), else read now."""
    with _prefetched_lock:
        kept = _prefetched.pop(_prefetch_key(hs), None)
    if kept is not None and time.monotonic() - kept[0] < PREFETCH_MAX_AGE:
        return kept[1]
    return read_facts(hs, deadline)


def read_stack_containers(hs: HostStack, deadline: Deadline) -> HostFacts:
    """The stack's containers and the images they run, now (the other facts left empty)."""
    out = hs.runner.run(stack_containers(hs.stack.project), deadline=deadline, cap=FACTS_CAP,
                        quiet=True)  # fmt: skip
    return parse(out.stdout, hs.target.name)
