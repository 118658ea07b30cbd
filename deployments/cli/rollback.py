"""`dockyard rollback`: the rollback flow (the same sequence the deploy flow rolls back with)."""

from __future__ import annotations

import sys

import click

from deployments.cli.options import actor, config_option, or_exit, parse_sets, secret_lookup
from dockyard.config import load_config, with_unset_per_deploy
from dockyard.report import rollback_text


@click.command("rollback")
@config_option
@click.option("--to", "to", default=None, help="Release id (default: the last good one before).")
@click.option("--host", "hosts", multiple=True, help="Only these targets (repeatable).")
def rollback_(
    config_path: str, sets: tuple[str, ...], to: str | None, hosts: tuple[str, ...]
) -> None:
    """Return each host's stacks to a previous release (files, .env, services and digests, under
    the lock, health checked, recorded), as the deploy flow does after a failed release."""
    variables = with_unset_per_deploy(config_path, parse_sets(sets))  # restored from the host
    or_exit(load_config, config_path, variables, secret_lookup=secret_lookup())
    from deployments.cli.deploy import prefect_api

    with prefect_api():  # without PREFECT_API_URL: the local API, not Prefect's own server
        from flows.rollback import rollback as rollback_flow

        state = rollback_flow(config_path, variables, list(hosts) or None, actor(), to,
                              return_state=True)  # fmt: skip
        report = state.result(raise_on_failure=False)
    if not isinstance(report, dict):
        click.echo(f"rollback crashed: {state.message}", err=True)
        sys.exit(1)
    text = rollback_text(report)
    if text:
        click.echo(text)
    sys.exit(0 if not report["failed_hosts"] else 1)
