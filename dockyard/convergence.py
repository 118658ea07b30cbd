"""The convergence check: is the host already running this release, so a deploy can skip work?"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Verdict = Literal["unchanged", "changed"]

# The steps an unchanged release skips: nothing on the host would be different after them.
SKIPPED_WHEN_UNCHANGED = ("jobs", "stop-first", "up", "restarts")

_GOOD_HEALTH = ("", "healthy")


@dataclass(frozen=True)
class RecordedService:
    """What the host's current release record says one service runs."""

    image: str
    config_hash: str = ""


@dataclass(frozen=True)
class RecordedRelease:
    """The host's current release: its id and, per service, the image digest and config hash;
    `one_shot` services (jobs, init containers) are done when exited 0, or gone."""

    id: str
    services: Mapping[str, RecordedService] = field(default_factory=dict)
    one_shot: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RunningContainer:
    """One container of the stack as the engine shows it (compose labels, image, state);
    `one_off` marks a `compose run` container (a job's), which no release record lists."""

    name: str
    service: str
    image_id: str
    config_hash: str
    state: str
    health: str = ""
    exit_code: int = 0
    repo_digests: tuple[str, ...] = ()
    one_off: bool = False

    def runs(self, image: str) -> bool:
        """Whether this container's image is `image` (an image id or a repo@digest)."""
        return image == self.image_id or image in self.repo_digests


@dataclass(frozen=True)
class Convergence:
    """The decision with its reasons; `skip` names the steps an unchanged release leaves out."""

    verdict: Verdict
    reasons: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return self.verdict == "unchanged"

    @property
    def skip(self) -> tuple[str, ...]:
        return SKIPPED_WHEN_UNCHANGED if self.unchanged else ()

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons), "skip": list(self.skip)}


def decide(
    release_id: str,
    current: RecordedRelease | None,
    containers: Iterable[RunningContainer],
    to_pull: Collection[str],
    force: bool = False,
) -> Convergence:
    """`unchanged` only when the recorded release is this one, nothing needs pulling and every
    recorded service runs its recorded image with its recorded config hash; else `changed` with
    every reason found. Jobs' `compose run` containers are not the release's. `force` runs
    everything."""
    if force:
        return Convergence("changed", ("--force: every step runs",))
    if current is None:
        return Convergence("changed", ("no release is recorded on the host",))
    if current.id != release_id:
        return Convergence("changed", (f"the host runs release {current.id}, not {release_id}",))
    reasons = []
    if to_pull:
        reasons.append(f"{len(to_pull)} image(s) to pull: {', '.join(sorted(to_pull))}")
    by_service: dict[str, list[RunningContainer]] = {}
    for container in containers:
        if not container.one_off:
            by_service.setdefault(container.service, []).append(container)
    for service, recorded in sorted(current.services.items()):
        reasons += _service_reasons(service, recorded, by_service.pop(service, []),
                                    service in current.one_shot)  # fmt: skip
    reasons += [f"service {s} runs but is not in release {current.id}" for s in sorted(by_service)]
    if reasons:
        return Convergence("changed", tuple(reasons))
    return Convergence("unchanged", (f"release {release_id} already runs as recorded",))


def _service_reasons(
    service: str, recorded: RecordedService, found: list[RunningContainer], one_shot: bool
) -> list[str]:
    if not found:
        return [] if one_shot else [f"service {service} has no container"]
    if not recorded.config_hash:
        return [f"service {service} has no config hash in the release record"]
    reasons = []
    for c in found:
        if not c.runs(recorded.image):
            reasons.append(f"{c.name} runs {_short(c.image_id)}, recorded {_short(recorded.image)}")
        if c.config_hash != recorded.config_hash:
            was, now = _short(recorded.config_hash), _short(c.config_hash)
            reasons.append(f"{c.name} has config hash {now}, recorded {was} (compose recreates it)")
        reasons += _state_reasons(c, one_shot)
    return reasons


def _state_reasons(c: RunningContainer, one_shot: bool) -> list[str]:
    if one_shot:
        done = c.state == "exited" and c.exit_code == 0
        return [] if done or c.state == "running" else [f"one-shot {c.name} is {_state(c)}"]
    if c.state != "running":
        return [f"{c.name} is {_state(c)}"]
    if c.health not in _GOOD_HEALTH:
        return [f"{c.name} is {c.health}"]
    return []


def _state(c: RunningContainer) -> str:
    return f"{c.state} (exit {c.exit_code})" if c.state == "exited" else c.state


def _short(value: str) -> str:
    """A digest or hash shortened for messages: repo@sha256:0123456789ab."""
    head, _, digest = value.rpartition(":")
    return f"{head}:{digest[:12]}" if head else value[:12]
