"""`dockyard rollback`: the rollback flow (the same sequence the deploy flow rolls back with)."""

from __future__ import annotations

import sys

import click

from dockyard.cli import actor, config_option, fail_config, main, parse_sets
from dockyard.config import ConfigError, load_config, with_unset_per_deploy


@main.command("rollback")
@config_option
@click.option("--to", "to", default=None, help="Release id (default: the last good one before).")
@click.option("--host", "hosts", multiple=True, help="Only these targets (repeatable).")
def rollback_(
    config_path: str, sets: tuple[str, ...], to: str | None, hosts: tuple[str, ...]
) -> None:
    """Return each host's stacks to a previous release (files, .env, services and digests, under
    the lock, health checked, recorded), as the deploy flow does after a failed release."""
    variables = with_unset_per_deploy(config_path, parse_sets(sets))  # restored from the host
    from deployments.cli import prefect_api, secret_lookup

    try:
        load_config(config_path, variables, secret_lookup=secret_lookup())
    except ConfigError as exc:
        fail_config(exc)
        return
    with prefect_api():  # without PREFECT_API_URL: the local API, not Prefect's own server
        from flows.rollback import rollback as rollback_flow

        state = rollback_flow(config_path, variables, list(hosts) or None, actor(), to,
                              return_state=True)  # fmt: skip
        report = state.result(raise_on_failure=False)
    if not isinstance(report, dict):
        click.echo(f"rollback crashed: {state.message}", err=True)
        sys.exit(1)
    for name, host in report["hosts"].items():
        click.echo(f"{name}: {host['result']}" + (f": {host['error']}" if host["error"] else ""))
        for note in host["notes"]:
            click.echo(f"  {note}")
    sys.exit(0 if not report["failed_hosts"] else 1)
