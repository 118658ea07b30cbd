"""The scenarios: which release each deploys, what is removed first, and which faults apply."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

THROTTLE_BYTES_PER_S = 10_000_000  # 10 MB/s
IDLE_DROP_SECONDS = 20.0
FLAKY_PATH = "^/v2/dockyard/app/manifests/"
FLAKY_COUNT = 2


class Kind(Enum):
    """What the deploy changes."""

    NOOP = "no-op"  # the running release again
    RELEASE = "release"  # app and migrator to the next version, its images removed first
    PRUNE = "prune"  # the running release after compose down and removing every bench image


@dataclass(frozen=True)
class Scenario:
    """One measured situation; `rounds` is the default number of measured deploys."""

    key: str
    title: str
    kind: Kind
    rounds: int = 2
    throttle: int | None = None
    idle_drop: float | None = None
    silent: bool = False
    flaky: tuple[int, str] | None = None
    load: bool = False  # measured under load by bench.underload instead of the runner


SCENARIOS = (
    Scenario("1", "no-op redeploy", Kind.NOOP, rounds=3),
    Scenario("2", "new release (app + migrator)", Kind.RELEASE),
    Scenario("3", "after a disk prune", Kind.PRUNE),
    Scenario("4a", "new release, registry at 10 MB/s", Kind.RELEASE, throttle=THROTTLE_BYTES_PER_S),
    Scenario("4b", "after a prune, registry at 10 MB/s", Kind.PRUNE, throttle=THROTTLE_BYTES_PER_S),
    Scenario(
        "5",
        "NAT idle-drop 20 s, a step silent for 40 s",
        Kind.NOOP,
        rounds=1,  # each round waits out the 40 s step three times; keeps `make bench` < 15 min
        idle_drop=IDLE_DROP_SECONDS,
        silent=True,
    ),
    Scenario(
        "6",
        "registry 503 for the first 2 app manifest requests",
        Kind.RELEASE,
        flaky=(FLAKY_COUNT, FLAKY_PATH),
    ),
    Scenario(
        "7",
        "new release under load (50 req/s through the router)",
        Kind.RELEASE,
        rounds=1,
        load=True,
    ),
)


def select(spec: str | None) -> list[Scenario]:
    """Scenarios named by a comma list like '1,2,4' ('4' means 4a and 4b); all if None."""
    if not spec:
        return list(SCENARIOS)
    wanted = {part.strip() for part in spec.split(",") if part.strip()}
    chosen = [s for s in SCENARIOS if s.key in wanted or s.key.rstrip("ab") in wanted]
    known = {s.key for s in SCENARIOS} | {s.key.rstrip("ab") for s in SCENARIOS}
    unknown = sorted(wanted - known)
    if unknown:
        names = ", ".join(sorted(known))
        raise ValueError(f"unknown scenario(s) {', '.join(unknown)}; known: {names}")
    return chosen


def next_version(current: str) -> str:
    """The release after `current`: v1 -> v2 -> v3 -> v2 -> v3 ..."""
    return "v3" if current == "v2" else "v2"
