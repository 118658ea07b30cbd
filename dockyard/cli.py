"""The `dockyard` command line: lab management now, deploy commands as they land."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from dockyard.lab.lab import Lab
from dockyard.lab.layout import LabLayout
from dockyard.lab.procs import LabProcessError


@click.group()
def main() -> None:
    """Deploy Docker Compose stacks to VMs over SSH as a Prefect flow."""


@main.group()
@click.option("--state-dir", default=None, help="Lab state directory (default .lab).")
@click.pass_context
def lab(ctx: click.Context, state_dir: str | None) -> None:
    """The real local target: Docker engine, registries, sshd and fault proxy on loopback."""
    ctx.obj = Lab(LabLayout.from_env(state_dir), say=lambda m: click.echo(m, err=True))


def _lab_call(fn: Callable[[], None]) -> None:
    try:
        fn()
    except LabProcessError as exc:
        click.echo(f"lab: {exc}", err=True)
        sys.exit(2)


@lab.command("up")
@click.pass_obj
def lab_up(lab: Lab) -> None:
    """Start the lab (idempotent: only what is not running is started)."""
    _lab_call(lab.up)
    click.echo(f"lab is up under {lab.layout.root}")


@lab.command("down")
@click.pass_obj
def lab_down(lab: Lab) -> None:
    """Stop exactly the processes `up` started."""
    _lab_call(lab.down)
    click.echo("lab is down")


@lab.command("status")
@click.pass_obj
def lab_status(lab: Lab) -> None:
    """Show each lab process and whether it runs; exit 1 if any is down."""
    click.echo(json.dumps(lab.status(), indent=2))
    sys.exit(0 if lab.running() else 1)


@lab.command("env")
@click.option("--shell", is_flag=True, help="Print `export K=V` lines for eval.")
@click.pass_obj
def lab_env(lab: Lab, shell: bool) -> None:
    """Print what a client needs: host, port, user, key, known_hosts, registries."""
    for key, value in lab.env().items():
        click.echo(f"export {key}='{value}'" if shell else f"{key}={value}")
