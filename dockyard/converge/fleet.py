"""The no-op fast path: check each selected host before Prefect starts; when every stack on every
host already runs this release as recorded, the deploy is a report and no flow run is made."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from dockyard.converge.check import converge
from dockyard.converge.verdict import Convergence
from dockyard.deadline import Deadline
from dockyard.errors import DockyardError
from dockyard.host.facts import prefetch
from dockyard.report import DeployReport, HostReport, StepReport
from dockyard.rollout import RolloutPlan
from dockyard.session import DeployRequest, load

NO_FLOW_RUN = "unchanged on every host: no flow run was started (--force runs every step)"


@dataclass(frozen=True)
class HostCheck:
    """One host's verdict per stack and the seconds the check took."""

    host: str
    verdicts: dict[str, Convergence]
    seconds: float

    @property
    def unchanged(self) -> bool:
        return all(v.unchanged for v in self.verdicts.values())


def check_host(request: DeployRequest, host: str) -> HostCheck:
    """Every stack of `host`, under the converge step's timeout; a host that cannot be read is
    `changed` (the full deploy then reports why, with its retries)."""
    loaded = load(request)
    started = time.monotonic()
    deadline = Deadline("converge", loaded.config.steps.policy("converge").timeout)
    verdicts = {}
    for stack in loaded.config.stacks:
        try:
            hs = loaded.host_stack(host, stack.project, _quiet)
            verdicts[stack.project] = converge(hs, prefetch(hs, deadline), deadline)
        except (DockyardError, OSError) as exc:
            reason = loaded.masker(f"the host could not be checked ({type(exc).__name__}: {exc})")
            verdicts[stack.project] = Convergence("changed", (reason,))
            break
    return HostCheck(host, verdicts, time.monotonic() - started)


def _quiet(_line: str) -> None:
    """The check's command log goes nowhere: its verdict is what is reported."""


def check_hosts(request: DeployRequest, hosts: list[str]) -> list[HostCheck]:
    """Each host's check batch by batch in rollout order (canary first), `rollout.parallel`
    at a time; stops after the first batch with a changed host, so hosts a stopped rollout
    would not start are not even connected to."""
    rollout = load(request).config.rollout
    checks: list[HostCheck] = []
    for batch in RolloutPlan.make(hosts, rollout).batches:
        parallel = max(1, min(len(batch.hosts), rollout.parallel))
        with ThreadPoolExecutor(parallel, thread_name_prefix="converge") as pool:
            checks += pool.map(lambda h: check_host(request, h), batch.hosts)
        if not all(c.unchanged for c in checks):
            break
    return checks


def report(release: str, checks: list[HostCheck]) -> DeployReport:
    """The deploy report of an all-unchanged check: one `converge` step per host."""
    hosts = []
    for check in checks:
        notes = [f"{p}: unchanged: {'; '.join(v.reasons)}" for p, v in check.verdicts.items()]
        step = StepReport("converge", "Completed", round(check.seconds, 3), 1)
        hosts.append(HostReport(check.host, steps=[step], notes=[*notes, NO_FLOW_RUN],
                                unchanged=list(check.verdicts)))  # fmt: skip
    return DeployReport("", release, hosts)
