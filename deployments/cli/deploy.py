"""`dockyard deploy` and `dockyard resume`: run the deploy flow and print its report."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from deployments import localapi
from deployments.cli.options import (
    EXIT_BAD_INPUT,
    actor,
    config_option,
    fail,
    or_exit,
    parse_sets,
    secret_lookup,
)
from dockyard.approval import server_problem
from dockyard.config import SecretLookup, load_config
from dockyard.images import progress
from dockyard.names import LOCAL_API_MARK
from dockyard.report import SUCCEEDED, deploy_text


def _print_report(report: dict, as_json: bool) -> None:
    click.echo(json.dumps(report, indent=2) if as_json else deploy_text(report))


@contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    """A rich progress bar per pulled image on stderr while the flow runs (terminals only)."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn

    bars: dict[tuple[str, str], TaskID] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  console=Console(stderr=True), transient=True) as shown:  # fmt: skip

        def update(host: str, image: str, done: int, total: int) -> None:
            key = (host, image)
            if key not in bars:
                bars[key] = shown.add_task(f"pull {image} on {host}", total=total)
            shown.update(bars[key], completed=done, total=total)

        progress.subscribe(update)
        try:
            yield
        finally:
            progress.unsubscribe(update)


@contextmanager
def prefect_api() -> Iterator[None]:
    """Without PREFECT_API_URL, a local API for this run (deployments/localapi.py): started
    before Prefect is imported, so that it boots while the CLI imports the flow."""
    if not localapi.wanted(os.environ):
        yield
        return
    api = localapi.LocalApi()
    api.start()
    os.environ["PREFECT_API_URL"] = api.url
    os.environ[LOCAL_API_MARK] = "1"  # no worker polls it: pool targets deploy in this run
    try:
        import flows.deploy  # noqa: F401  (imported while the API boots)

        api.wait()
        yield
    except localapi.LocalApiFailed as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    finally:
        localapi.drain()
        api.stop()
        del os.environ["PREFECT_API_URL"]
        del os.environ[LOCAL_API_MARK]


def _unchanged(config_path: str, variables: dict[str, str], hosts: list[str], as_json: bool,
               lookup: SecretLookup | None) -> None:  # fmt: skip
    """Exit 0 with the report when every selected host already runs this release as recorded
    (dockyard/converge/fleet.py); return when any stack on any host needs the flow."""
    from dockyard.converge import fleet
    from dockyard.session import DeployRequest, load, set_secret_lookup

    set_secret_lookup(lookup)
    request = DeployRequest(config_path, variables, actor=actor())
    or_exit(load, request)  # a release key that cannot be read exits 2 naming it (then cached)
    checks = fleet.check_hosts(request, hosts)
    if len(checks) == len(hosts) and all(c.unchanged for c in checks):
        loaded = load(request)
        _print_report(loaded.masker.value(fleet.report(loaded.release, checks).to_json()), as_json)
        sys.exit(0)


def _run_flow(
    config_path: str,
    variables: dict[str, str],
    hosts: list[str],
    as_json: bool,
    resumes: list[str],
    force: bool = False,
) -> None:
    from flows.deploy import deploy as deploy_flow

    with _progress_bars(not as_json and sys.stderr.isatty()):
        state = deploy_flow(config_path, variables, hosts or None, actor(), resumes, force,
                            return_state=True)  # fmt: skip
    report = state.result(raise_on_failure=False)
    if not isinstance(report, dict):
        click.echo(f"deploy crashed: {state.message}", err=True)
        sys.exit(1)
    _print_report(report, as_json)
    sys.exit(0 if report["result"] == SUCCEEDED else 1)


@click.command()
@config_option
@click.option("--host", "hosts", multiple=True, help="Only these targets (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--resume-rollout",
    "resume_run",
    default=None,
    metavar="FLOW_RUN_ID",
    help="Deploy only the hosts that deploy run did not finish.",
)
@click.option("--force", is_flag=True,
              help="Run every step even where the host already runs this release.")  # fmt: skip
def deploy(config_path: str, sets: tuple[str, ...], hosts: tuple[str, ...], as_json: bool,
           resume_run: str | None, force: bool) -> None:  # fmt: skip
    """Deploy deploy.yaml's stacks through the Prefect flow (exit 0 ok, 1 failed, 2 bad input).
    Hosts that already run this release as recorded are checked in one read each and left as
    they are; when all are, no flow run is started."""
    variables = parse_sets(sets)
    lookup = secret_lookup()
    config = or_exit(load_config, config_path, variables, secret_lookup=lookup)
    if problem := server_problem(config.rollout.approve, bool(os.environ.get("PREFECT_API_URL"))):
        fail(problem)
    unknown = sorted(set(hosts) - {t.name for t in config.targets})
    if unknown:
        click.echo(f"unknown --host {', '.join(unknown)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if resume_run:
        hosts = tuple(_resume_rollout(resume_run, [t.name for t in config.targets], hosts))
    elif not force:
        _unchanged(config_path, variables, list(hosts) or [t.name for t in config.targets],
                   as_json, lookup)  # fmt: skip
    with prefect_api():
        _run_flow(config_path, variables, list(hosts), as_json, [], force)


def _resume_rollout(flow_run_id: str, targets: list[str], hosts: tuple[str, ...]) -> list[str]:
    """The hosts run `flow_run_id` did not finish (within --host); exits when there are none."""
    from deployments.rollout_resume import RolloutNotReadable, hosts_to_resume

    try:
        left = [h for h in hosts_to_resume(flow_run_id, targets) if not hosts or h in hosts]
    except RolloutNotReadable as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
    if not left:
        click.echo(f"nothing to resume: every selected host of run {flow_run_id} succeeded")
        sys.exit(0)
    return left


@click.command()
@click.argument("flow_run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def resume(flow_run_id: str, as_json: bool) -> None:
    """Rerun a failed deploy with its parameters: completed steps are cached, the rest runs."""
    with prefect_api():
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            run = client.read_flow_run(flow_run_id)
            per_host = "config_path" not in run.parameters or "host" in run.parameters
            if per_host and run.parent_task_run_id:  # a subflow's or a pool worker's host run
                parent = client.read_task_run(run.parent_task_run_id)
                run = client.read_flow_run(parent.flow_run_id)
        params = run.parameters
        if "config_path" not in params or "host" in params:
            click.echo(
                f"flow run {flow_run_id} is not a dockyard deploy run; give the deploy run's id "
                "(dockyard deploy --json prints it as flow_run_id)",
                err=True,
            )
            sys.exit(EXIT_BAD_INPUT)
        flow_run_id = str(run.id)
        resumes = [*(params.get("resumes") or []), flow_run_id]
        _run_flow(params["config_path"], params.get("variables") or {}, params.get("hosts") or [],
                  as_json, resumes)  # fmt: skip
