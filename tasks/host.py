"""Host tasks: preflight, the deploy lock, diagnostics. Never cached: they must always run."""

from __future__ import annotations

from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound

from dockyard.converge.check import converge
from dockyard.converge.verdict import Convergence
from dockyard.host import lease
from dockyard.host.facts import HostFacts
from dockyard.pipeline import diagnostics
from dockyard.pipeline.preflight import preflight
from dockyard.session import DeployRequest
from tasks.context import current_deadline, current_stack
from tasks.policy import fresh_step


@fresh_step("preflight", "preflight {host}")
def check_host(request: DeployRequest, host: str, project: str) -> HostFacts:
    """Connect (strict host key) and read the stack's host facts (one round trip): docker, the
    daemon and compose must answer. The later steps get these facts, not another read."""
    return preflight(current_stack(), current_deadline())


@fresh_step("converge", "converge {host}/{project}")
def converge_stack(
    request: DeployRequest, host: str, project: str, facts: HostFacts
) -> Convergence:
    """Whether the host already runs this release as recorded (from preflight's facts)."""
    return converge(current_stack(), facts, current_deadline(), request.force)


@fresh_step("lock", "lock {host}/{project}")
def take_lock(request: DeployRequest, host: str, project: str) -> lease.Locked:
    """Take the host-side deploy lock of the stack."""
    hs = current_stack()
    locked = lease.take(hs, request, current_deadline(), is_run_finished=flow_run_finished)
    if locked.note:
        hs.log(locked.note)
    return locked


def flow_run_finished(run_id: str) -> bool:
    """Whether the Prefect API knows flow run `run_id` and it is in a terminal state (a lock
    it left can be taken at once). False when there is no API or the id is not a run's."""
    try:
        with get_client(sync_client=True) as client:
            return bool(client.read_flow_run(UUID(run_id)).state.is_final())
    except (ValueError, ObjectNotFound, httpx.HTTPError, RuntimeError):
        return False


@fresh_step("unlock", "unlock {host}/{project}")
def release_lock(request: DeployRequest, host: str, project: str) -> None:
    """Release the lock if this run holds it."""
    lease.release(current_stack(), request, current_deadline())


@fresh_step("diagnostics", "diagnostics {host}/{project}")
def collect_diagnostics(request: DeployRequest, host: str, project: str, failure: str) -> str:
    """Disk, compose ps and log tails of failed services (best effort, masked)."""
    return diagnostics.collect(current_stack(), failure, current_deadline())
