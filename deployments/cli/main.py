"""The `dockyard` command: the group and the one list of its commands.

Only config loading is imported up front: the SSH link, the lab (docker, httpx) and Prefect
load inside the commands that use them, so validate, lint and --help start fast."""

from __future__ import annotations

import click

from deployments.cli import (
    approve,
    deploy,
    diff,
    hosts,
    inputs,
    lab,
    lock,
    notify,
    pool,
    rollback,
    serve,
)


@click.group()
def main() -> None:
    """Deploy Docker Compose stacks to VMs over SSH as a Prefect flow."""


COMMANDS: tuple[click.Command, ...] = (
    inputs.validate,
    hosts.exec_,
    hosts.plan,
    diff.diff,
    inputs.lint,
    inputs.pin,
    lab.lab,
    hosts.releases_,
    lock.lock_group,
    deploy.deploy,
    deploy.resume,
    serve.server,
    serve.serve,
    serve.trigger,
    pool.pool,
    rollback.rollback_,
    approve.approve,
    notify.notify_setup,
)

for command in COMMANDS:
    main.add_command(command)
