"""`dockyard server`, `serve` and `trigger`: a Prefect server, a served deployment, its runs."""

from __future__ import annotations

import ipaddress
import sys

import click

from deployments.cli.options import EXIT_BAD_INPUT, config_option, or_exit, parse_sets
from dockyard.config import load_config


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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=4200, show_default=True, type=int)
def server(host: str, port: int) -> None:
    """Start a Prefect server with the UI (SQLite under $PREFECT_HOME; PostgreSQL when
    PREFECT_API_DATABASE_CONNECTION_URL points at one). Beyond loopback only with
    PREFECT_SERVER_API_AUTH_STRING set (clients then need PREFECT_API_AUTH_STRING)."""
    import os
    import shutil

    _refuse_open_bind(host)
    prefect = shutil.which("prefect") or os.path.join(os.path.dirname(sys.executable), "prefect")
    click.echo(f"Prefect UI and API: http://{host}:{port}  (export PREFECT_API_URL="
               f"http://{host}:{port}/api)")  # fmt: skip
    os.environ.setdefault("PREFECT_UI_API_URL", f"http://{host}:{port}/api")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.execv(prefect, [prefect, "server", "start", "--host", host, "--port", str(port)])


@click.command()
@config_option
@click.option("--name", default=None, help="Deployment name (default: the config file's stem).")
def serve(config_path: str, sets: tuple[str, ...], name: str | None) -> None:
    """Register the deploy flow for this config as a deployment and serve its runs."""
    from deployments.serving import serve_config

    config = or_exit(load_config, config_path, parse_sets(sets))
    serve_config(config_path, config, name)


@click.command()
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
