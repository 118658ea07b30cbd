"""`dockyard approve`: answer a deploy run paused for approval (rollout.approve) from a terminal."""

from __future__ import annotations

import os
from uuid import UUID

import click

from deployments.cli.options import actor, fail
from dockyard.names import LOCAL_API_MARK

_FIX = "pass the id of a deploy run paused for approval, with PREFECT_API_URL set to its server"


@click.command()
@click.argument("flow_run_id")
@click.option("--reject", is_flag=True, help="Reject: roll the canary back, start no more hosts.")
@click.option("--comment", default="", help="Why (kept in the run's report).")
def approve(flow_run_id: str, reject: bool, comment: str) -> None:
    """Approve (or --reject) the next batch of a deploy run paused by rollout.approve, as the
    Prefect UI's form does; the actor ($DOCKYARD_ACTOR, the CI's or the user) is recorded."""
    if not os.environ.get("PREFECT_API_URL") or os.environ.get(LOCAL_API_MARK) == "1":
        fail(f"dockyard approve needs the Prefect server the deploy runs on; {_FIX}")
    try:
        run_id = UUID(flow_run_id)
    except ValueError:
        fail(f"{flow_run_id!r} is not a flow run id; {_FIX}")
    from prefect.client.orchestration import get_client
    from prefect.exceptions import FlowPauseTimeout, NotPausedError, ObjectNotFound
    from prefect.flow_runs import resume_flow_run

    try:
        with get_client(sync_client=True) as client:
            run = client.read_flow_run(run_id)
        if "config_path" not in run.parameters or "host" in run.parameters:
            fail(f"flow run {flow_run_id} is not a dockyard deploy run; {_FIX}")
        who = actor()
        resume_flow_run(run_id, run_input={"approve": not reject, "comment": comment,
                                           "approver": who})  # fmt: skip
    except ObjectNotFound:
        fail(f"no flow run {flow_run_id} on {os.environ['PREFECT_API_URL']}; {_FIX}")
    except NotPausedError:
        fail(f"flow run {flow_run_id} is not paused (already answered, or not waiting); {_FIX}")
    except FlowPauseTimeout:
        fail(f"flow run {flow_run_id} waited longer than its rollout.approve_timeout: it stops "
             "as rejected")  # fmt: skip
    click.echo(f"{'rejected' if reject else 'approved'} deploy run {flow_run_id} as {who}")
