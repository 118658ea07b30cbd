"""`deploy --resume-rollout RUN`: the hosts a deploy run did not finish (from the Prefect API)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from dockyard.errors import DockyardError

HOST_FLOW = "dockyard-host"
_REQUEST_TIMEOUT = 30.0


class RolloutNotReadable(DockyardError):
    """The run to resume is unknown, not a deploy, or the Prefect API did not answer."""


def unfinished(targets: Sequence[str], selection: Sequence[str] | None,
               host_runs: Iterable[Any]) -> list[str]:  # fmt: skip
    """The run's hosts (its `hosts` selection, else every target), in config order, except
    those whose `dockyard-host` run completed; a host never started has no run."""
    done = {r.parameters.get("host") for r in host_runs if r.state and r.state.is_completed()}
    return [t for t in targets if (not selection or t in selection) and t not in done]


def hosts_to_resume(flow_run_id: str, targets: Sequence[str]) -> list[str]:
    """Read deploy run `flow_run_id` and its per-host runs; the hosts still to deploy."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_REQUEST_TIMEOUT, temporary_settings

    fix = "pass the flow run id a `dockyard deploy` printed, with PREFECT_API_URL set"
    try:
        run_id = UUID(flow_run_id)
    except ValueError:
        raise RolloutNotReadable(f"--resume-rollout {flow_run_id!r} is not a flow run id; "
                                 f"{fix}") from None  # fmt: skip
    try:
        with temporary_settings({PREFECT_API_REQUEST_TIMEOUT: _REQUEST_TIMEOUT}), \
                get_client(sync_client=True) as client:  # fmt: skip
            run = client.read_flow_run(run_id)
            parent = FlowRunFilterParentFlowRunId(any_=[run_id])
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=parent)
            )
    except ObjectNotFound:
        raise RolloutNotReadable(f"no flow run {flow_run_id} on the Prefect API; {fix}") from None
    except Exception as exc:
        raise RolloutNotReadable(f"cannot read flow run {flow_run_id} from the Prefect API "
                                 f"({type(exc).__name__}); {fix}") from None  # fmt: skip
    if "config_path" not in run.parameters:
        raise RolloutNotReadable(f"flow run {flow_run_id} is not a dockyard deploy run; {fix}")
    host_runs = [c for c in children if c.name.startswith("deploy ") and "host" in c.parameters]
    return unfinished(targets, run.parameters.get("hosts"), host_runs)
