"""`dockyard notify-setup`: have the Prefect server call a webhook when a deploy run fails."""

from __future__ import annotations

import os

import click

from deployments.cli.options import fail
from dockyard.names import LOCAL_API_MARK


@click.command("notify-setup")
@click.option("--webhook", "url", required=True, metavar="URL",
              help="Called with POST and a JSON body naming the failed run.")  # fmt: skip
def notify_setup(url: str) -> None:
    """Create (or replace) the `dockyard-deploy-failed` automation and its webhook block on the
    Prefect server: each failed `dockyard-deploy` run POSTs its run id, name, state and message
    to URL. The server's triggers and actions services send it (a `dockyard server` runs them)."""
    from deployments.notify import BadWebhook, check_url

    try:
        check_url(url)
    except BadWebhook as exc:
        fail(str(exc))
    if not os.environ.get("PREFECT_API_URL") or os.environ.get(LOCAL_API_MARK) == "1":
        fail("notify-setup needs the Prefect server your deploys run on: set PREFECT_API_URL")
    from deployments.notify import NAME, set_up

    automation = set_up(url)
    click.echo(f"automation {NAME} ({automation}) calls the webhook block {NAME} when a "
               "dockyard-deploy run fails")  # fmt: skip
