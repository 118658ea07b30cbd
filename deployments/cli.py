"""The `dockyard` entry point: core commands plus those that run the Prefect flow."""

from __future__ import annotations

import ipaddress
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from deployments import localapi
from deployments import pools as _pool_command  # noqa: F401  (registers `pool`)
from deployments import rollback as _rollback_command  # noqa: F401  (registers `rollback`)
from dockyard import cli_lock as _lock_command  # noqa: F401  (registers `lock`)
from dockyard.cli import (
    EXIT_BAD_INPUT,
    LOCAL_API_MARK,
    actor,
    config_option,
    fail_config,
    main,
    parse_sets,
)
from dockyard.config import ConfigError, SecretLookup, load_config
from dockyard.images import progress
from dockyard.report import SUCCEEDED

__all__ = ["main"]


def _print_report(report: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    run = f"flow run {report['flow_run_id']}" if report["flow_run_id"] else "no flow run"
    click.echo(f"deploy {report['result']} (release {report['release']}, {run})")
    for name, host in report["hosts"].items():
        click.echo(f"\n{name}: {host['result']}" + (f": {host['error']}" if host["error"] else ""))
        for step in host["steps"]:
            attempts = f" x{step['attempts']}" if step["attempts"] > 1 else ""
            click.echo(f"  {step['name']:28} {step['state']:10} {step['seconds']:7.2f}s{attempts}")
        for image in host["images"]:
            size = f" {image['bytes'] / 1e6:.1f} MB" if image["bytes"] else ""
            click.echo(f"  {image['action']:6} {image['image']}{size}  ({image['reason']})")
        for note in host["notes"]:
            click.echo(f"  note: {note}")
        if host["diagnostics"]:
            click.echo("\n" + host["diagnostics"])


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
def _prefect_api() -> Iterator[None]:
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
        api.stop()
        del os.environ["PREFECT_API_URL"]
        del os.environ[LOCAL_API_MARK]


class _PrefectSecretsOnUse:
    """tasks.secrets.PrefectSecrets, imported when a secret is first looked up there: a deploy
    whose secrets are all in the environment never imports Prefect for them."""

    def _real(self) -> SecretLookup:
        from tasks.secrets import PrefectSecrets

        return PrefectSecrets()

    def where(self, name: str) -> str:
        return self._real().where(name)

    def __call__(self, name: str) -> str | None:
        return self._real()(name)


def secret_lookup() -> SecretLookup | None:
    """Prefect Secret blocks as the second secret source when a Prefect API is configured
    (the flow registers the same lookup on the worker); none otherwise. Prefect is imported
    only if a secret is missing from the environment."""
    if not os.environ.get("PREFECT_API_URL"):
        return None
    return _PrefectSecretsOnUse()


def _unchanged(config_path: str, variables: dict[str, str], hosts: list[str], as_json: bool,
               lookup: SecretLookup | None) -> None:  # fmt: skip
    """Exit 0 with the report when every selected host already runs this release as recorded
    (dockyard/noop.py); return when any stack on any host needs the flow."""
    from dockyard import noop
    from dockyard.session import DeployRequest, load, set_secret_lookup

    set_secret_lookup(lookup)
    request = DeployRequest(config_path, variables, actor=actor())
    checks = noop.check_hosts(request, hosts)
    if len(checks) == len(hosts) and all(c.unchanged for c in checks):
        _print_report(noop.report(load(request).release, checks).to_json(), as_json)
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


@main.command()
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
    try:
        config = load_config(config_path, variables, secret_lookup=lookup)
    except ConfigError as exc:
        fail_config(exc)
        return
    unknown = sorted(set(hosts) - {t.name for t in config.targets})
    if unknown:
        click.echo(f"unknown --host {', '.join(unknown)}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if resume_run:
        hosts = tuple(_resume_rollout(resume_run, [t.name for t in config.targets], hosts))
    elif not force:
        _unchanged(config_path, variables, list(hosts) or [t.name for t in config.targets],
                   as_json, lookup)  # fmt: skip
    with _prefect_api():
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


@main.command()
@click.argument("flow_run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def resume(flow_run_id: str, as_json: bool) -> None:
    """Rerun a failed deploy with its parameters: completed steps are cached, the rest runs."""
    with _prefect_api():
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


def _loopback(host: str) -> bool:
    """Whether `host` binds to this machine only (a name other than localhost may not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_open_bind(host: str) -> None:
    """Exit 2 when the API would listen beyond loopback without an auth string: whoever
    reaches it could start deploys to production."""
    from prefect.settings import Settings

    if _loopback(host) or Settings().server.api.auth_string is not None:  # env, then profile
        return
    click.echo(f"refusing to serve the Prefect API on {host} without authentication: anyone "
               "who reaches it can start deploys; set PREFECT_SERVER_API_AUTH_STRING=user:"
               "password for the server (and PREFECT_API_AUTH_STRING to the same value on "
               "workers and CI), or bind to 127.0.0.1", err=True)  # fmt: skip
    sys.exit(EXIT_BAD_INPUT)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4200, show_default=True, type=int)
def server(host: str, port: int) -> None:
    """Start a Prefect server with the UI (SQLite under $PREFECT_HOME; PostgreSQL when
    PREFECT_API_DATABASE_CONNECTION_URL points at one). Beyond loopback only with
    PREFECT_SERVER_API_AUTH_STRING set (clients then need PREFECT_API_AUTH_STRING)."""
    import shutil

    _refuse_open_bind(host)
    prefect = shutil.which("prefect") or os.path.join(os.path.dirname(sys.executable), "prefect")
    click.echo(f"Prefect UI and API: http://{host}:{port}  (export PREFECT_API_URL="
               f"http://{host}:{port}/api)")  # fmt: skip
    os.environ.setdefault("PREFECT_UI_API_URL", f"http://{host}:{port}/api")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.execv(prefect, [prefect, "server", "start", "--host", host, "--port", str(port)])


@main.command()
@config_option
@click.option("--name", default=None, help="Deployment name (default: the config file's stem).")
def serve(config_path: str, sets: tuple[str, ...], name: str | None) -> None:
    """Register the deploy flow for this config as a deployment and serve its runs."""
    from deployments.serving import serve_config

    try:
        config = load_config(config_path, parse_sets(sets))
    except ConfigError as exc:
        fail_config(exc)
        return
    serve_config(config_path, config, name)


@main.command()
@click.argument("deployment")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--wait", is_flag=True, help="Wait for the run; exit 0 if it completed, else 1.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait.")
def trigger(deployment: str, sets: tuple[str, ...], wait: bool, timeout: float) -> None:
    """Start a run of a served deployment (e.g. from CI) and print its UI URL."""
    from prefect.settings import PREFECT_UI_URL

    from deployments.serving import trigger as start

    run = start(deployment, parse_sets(sets), wait, timeout)
    ui = PREFECT_UI_URL.value()
    click.echo(f"flow run {run.id}: {ui}/runs/flow-run/{run.id}" if ui else f"flow run {run.id}")
    if wait:
        state = run.state.type.value if run.state else "UNKNOWN"
        click.echo(f"finished: {state} ({run.state.message if run.state else ''})")
        sys.exit(0 if state == "COMPLETED" else 1)
