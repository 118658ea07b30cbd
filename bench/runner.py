"""Run scenarios for each contender: set the stage, apply faults, deploy, and measure."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.contenders import Contender, Outcome
from bench.engine import Engine
from bench.floor import RegistrySizes
from bench.proxy import BenchProxy
from bench.scenarios import Kind, Scenario, next_version
from bench.workspace import VERSION_URL, Workspace, image

READY_TIMEOUT = 60.0
POLLUTED = (
    "127.0.0.1:5000/dockyard/* images were on the engine after the images were removed: they "
    "share layers with ours, so bytes (and pull times) come out low"
)


@dataclass
class Measurement:
    """One measured deploy of one contender in one scenario."""

    scenario: str
    contender: str
    round: int
    version_from: str
    version_to: str
    ok: bool
    exit_code: int
    wall_s: float
    ready_s: float | None = None
    bytes_down: int = 0
    bytes_up: int = 0
    registry_requests: int = 0
    blob_requests: int = 0
    answered_503: int = 0
    needed_bytes: int = 0
    orchestration_s: float | None = None
    steps_s: float | None = None
    cpu_s: float = 0.0
    step_times: dict[str, float] = field(default_factory=dict)
    step_starts: dict[str, float] = field(default_factory=dict)
    cached_steps: list[str] = field(default_factory=list)
    leftover_pids: int = 0
    error: str = ""
    warnings: list[str] = field(default_factory=list)


class StageFailed(RuntimeError):
    """The unmeasured deploy that sets the stage for a contender failed."""


@dataclass
class Entry:
    """A contender in a scenario, with the contender that sets its stage and its round count."""

    contender: Contender
    preparer: Contender
    rounds: int


class Runner:
    """Holds what is running on vm2 (`current`) between scenarios and contenders."""

    def __init__(
        self,
        ws: Workspace,
        engine: Engine,
        proxy: BenchProxy,
        sizes: RegistrySizes,
        say: Callable[[str], None] = print,
    ) -> None:
        self.ws = ws
        self.engine = engine
        self.proxy = proxy
        self.sizes = sizes
        self.say = say
        self.current = "v1"
        self._warned: set[str] = set()

    def scenario(self, scenario: Scenario, entries: list[Entry]) -> list[Measurement]:
        """Every entry's rounds of `scenario`; a failed stage is one failed measurement."""
        results: list[Measurement] = []
        for entry in entries:
            name = entry.contender.name
            try:
                if scenario.kind is not Kind.PRUNE:  # a prune round stops and clears all anyway
                    self.set_stage(entry.preparer)
            except StageFailed as exc:
                self.say(f"  {name}: stage not set: {exc}")
                results.append(
                    Measurement(scenario.key, name, 0, self.current, self.current, False, -1,
                                0.0, error=f"stage not set: {exc}")
                )  # fmt: skip
                continue
            for number in range(1, entry.rounds + 1):
                m = self.round(scenario, entry.contender, number)
                status = "ok" if m.ok else f"FAILED ({m.error.splitlines()[-1][:120]})"
                self.say(
                    f"  {name} round {number}: {m.version_from}->{m.version_to} {m.wall_s:.1f}s "
                    f"{m.bytes_down / 1e6:.1f} MB {m.registry_requests} req {status}"
                )
                results.append(m)
        return results

    def set_stage(self, preparer: Contender) -> None:
        """Deploy the current release with `preparer`, no faults (unmeasured)."""
        self.proxy.clear_faults()
        preparer.setup(self.current)
        outcome = preparer.deploy(self.current)
        self.engine.end_leftovers(preparer.remote_dir)
        if not outcome.done.ok or self._ready(self.current, 30) is None:
            raise StageFailed(f"{preparer.name} deploy of {self.current}: {outcome.done.tail()}")

    def round(self, scenario: Scenario, contender: Contender, number: int) -> Measurement:
        """Remove what the scenario removes, apply its faults, deploy and measure."""
        before = self.current
        target = next_version(before) if scenario.kind is Kind.RELEASE else before
        warnings = self._clear_stage(scenario.kind, target)
        for warning in warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                self.say(f"  ! warning: {warning}")
        wanted = self.ws.stack_images(target)
        needed = self.sizes.needed_bytes(wanted, self.engine.content())
        contender.setup(target)
        self._apply_faults(scenario)
        self.proxy.reset_counters()
        started = time.monotonic()
        try:
            outcome = contender.deploy(target, silent=scenario.silent)
        finally:
            traffic = self.proxy.registry_traffic()
            self.proxy.clear_faults()
        leftovers = self.engine.end_leftovers(contender.remote_dir)
        ready = self._ready(target, READY_TIMEOUT if outcome.done.ok else 0.0)
        ok = outcome.done.ok and ready is not None
        if ok:
            self.current = target
        return Measurement(
            scenario=scenario.key,
            contender=contender.name,
            round=number,
            version_from=before,
            version_to=target,
            ok=ok,
            exit_code=outcome.done.code,
            wall_s=round(outcome.done.seconds, 3),
            ready_s=None if ready is None else round(ready - started, 3),
            bytes_down=traffic.bytes_down,
            bytes_up=traffic.bytes_up,
            registry_requests=traffic.requests,
            blob_requests=traffic.blob_requests,
            answered_503=traffic.answered_503,
            needed_bytes=needed,
            orchestration_s=_rounded(outcome.orchestration_seconds),
            steps_s=_rounded(outcome.steps_seconds),
            cpu_s=round(outcome.done.cpu_seconds, 3),
            step_times=outcome.step_times,
            step_starts=outcome.step_starts,
            cached_steps=outcome.cached_steps,
            leftover_pids=len(leftovers),
            error="" if ok else _error(outcome, target),
            warnings=warnings,
        )

    def _clear_stage(self, kind: Kind, target: str) -> list[str]:
        """Remove the target release's images, or stop the stack and remove every bench image;
        returns warnings about figures this makes unreliable."""
        warnings: list[str] = []
        if kind is Kind.NOOP:
            return warnings
        if kind is Kind.RELEASE:
            refs = [image("app", target), image("migrator", target)]
            warnings += self.engine.remove_images(refs)
        else:
            self.engine.compose_down()
            warnings += self.engine.prune_bench_images()
        if self.engine.polluting_images():
            warnings.append(POLLUTED)
        return warnings

    def _apply_faults(self, scenario: Scenario) -> None:
        if scenario.throttle:
            self.proxy.throttle_registry(scenario.throttle)
        if scenario.flaky:
            self.proxy.flaky_registry(*scenario.flaky)
        if scenario.idle_drop:
            self.proxy.idle_drop_ssh(scenario.idle_drop)

    def _ready(self, version: str, timeout: float) -> float | None:
        """time.monotonic() when the app first answers /version with `version` (checked at
        least once, then until `timeout`), else None."""
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(VERSION_URL, timeout=2).text.strip() == version:
                    return time.monotonic()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.2)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _error(outcome: Outcome, target: str) -> str:
    if not outcome.done.ok:
        report = outcome.report
        detail = ""
        if report:
            detail = "; ".join(h.get("error", "") for h in report["hosts"].values())
        return f"exit {outcome.done.code}: {detail or outcome.done.tail(4)}{_cached(outcome)}"
    return f"exit 0 but the app does not answer /version = {target}{_cached(outcome)}"


def _cached(outcome: Outcome) -> str:
    """For a failed dockyard deploy: which steps it skipped as already done (Cached)."""
    if not outcome.cached_steps:
        return ""
    return f" (steps skipped as Cached: {', '.join(outcome.cached_steps)})"
