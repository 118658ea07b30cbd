"""Where this flow run came from, read from the Prefect API and never from its parameters: its
deployment and the config it pins, its parent deploy run, the actor to record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.context import FlowRunContext
from prefect.settings import PREFECT_API_REQUEST_TIMEOUT, temporary_settings

from dockyard import approval
from dockyard.config.run_inputs import RunInputRefused

DEPLOY_FLOW = "dockyard-deploy"
_REQUEST_TIMEOUT = 30.0


@dataclass(frozen=True)
class Origin:
    """A run's deployment (`flow/name`, None when the process that made the run runs it) with
    the parameters the deployment pins, and the identity and takeovers it derives."""

    deployment: str | None = None
    pinned: Mapping[str, Any] = field(default_factory=dict)
    actor: str = "unknown"
    resumes: tuple[str, ...] = ()


def _this_run() -> FlowRun | None:
    context = FlowRunContext.get()
    return context.flow_run if context else None


def _origin_of(client: Any, run: FlowRun) -> Origin:
    """A deployment's run: the deployment is the actor and it resumes nothing; a run without
    one was made by the dockyard CLI in its own process, whose parameters say both."""
    if run.deployment_id is None:
        params = run.parameters
        return Origin(actor=str(params.get("actor") or "unknown"),
                      resumes=tuple(params.get("resumes") or ()))  # fmt: skip
    deployment = client.read_deployment(run.deployment_id)
    name = f"{client.read_flow(run.flow_id).name}/{deployment.name}"
    return Origin(name, dict(deployment.parameters or {}), f"deployment {name}")


def this_origin() -> Origin:
    """The origin of the flow run this code runs in (none outside a flow run)."""
    run = _this_run()
    if run is None or run.deployment_id is None:
        return Origin() if run is None else _origin_of(None, run)
    with temporary_settings({PREFECT_API_REQUEST_TIMEOUT: _REQUEST_TIMEOUT}), \
            get_client(sync_client=True) as client:  # fmt: skip
        return _origin_of(client, run)


@dataclass(frozen=True)
class ParentRun:
    """The deploy run a host run belongs to: its id, variables and origin, and who approved
    the batch the host run is in ("" when nobody was asked)."""

    run_id: str
    variables: Mapping[str, str]
    origin: Origin
    approved_by: str = ""


def parent_deploy_run() -> ParentRun:
    """The `dockyard-deploy` run that started this host run (as a subflow of it, which the
    Prefect API records); refused when there is none."""
    run = _this_run()
    fix = "host runs are started by a dockyard deploy run (dockyard deploy, a served deployment)"
    if run is None or run.parent_task_run_id is None:
        raise RunInputRefused("this host run has no parent deploy run", fix)
    with temporary_settings({PREFECT_API_REQUEST_TIMEOUT: _REQUEST_TIMEOUT}), \
            get_client(sync_client=True) as client:  # fmt: skip
        parent = client.read_flow_run(client.read_task_run(run.parent_task_run_id).flow_run_id)
        if client.read_flow(parent.flow_id).name != DEPLOY_FLOW:
            raise RunInputRefused("this host run's parent is not a dockyard deploy run", fix)
        origin = _origin_of(client, parent)
        answers = client.filter_flow_run_input(parent.id, approval.ANSWER_PREFIX, limit=100,
                                               exclude_keys=set())  # fmt: skip
    variables = parent.parameters.get("variables") or {}
    stored = [(a.key, a.created.timestamp(), a.value) for a in answers if a.created is not None]
    before = run.created.timestamp() if run.created else float("inf")
    return ParentRun(str(parent.id), dict(variables), origin,
                     approval.approver_before(stored, before))  # fmt: skip
