"""`dockyard lab up | down | status | env`: the real local target on loopback."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from deployments.cli.options import EXIT_BAD_INPUT

if TYPE_CHECKING:
    from dockyard.lab.lab import Lab


@click.group()
@click.option("--state-dir", default=None, help="Lab state directory (default .lab).")
@click.pass_context
def lab(ctx: click.Context, state_dir: str | None) -> None:
    """The real local target: Docker engine, registries, sshd and fault proxy on loopback."""
    from dockyard.lab.lab import Lab
    from dockyard.lab.layout import LabLayout

    ctx.obj = Lab(LabLayout.from_env(state_dir), say=lambda m: click.echo(m, err=True))


def _lab_call(fn: Callable[[], None]) -> None:
    from dockyard.lab.procs import LabProcessError

    try:
        fn()
    except LabProcessError as exc:
        click.echo(f"lab: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)


@lab.command("up")
@click.option(
    "--vms",
    type=click.IntRange(1, 254),
    default=2,
    show_default=True,
    help="VMs: vm1 and vm2 share the lab engine; vm3..vmN each get their own namespaces, "
    "engine and sshd. VMs already up are kept.",
)
@click.pass_obj
def lab_up(lab: Lab, vms: int) -> None:
    """Start the lab (idempotent: only what is not running is started)."""
    _lab_call(lambda: lab.up(vms))
    click.echo(f"lab is up under {lab.layout.root}")


@lab.command("down")
@click.option("--vms-only", is_flag=True, help="Remove only the isolated VMs (vm3..vmN).")
@click.pass_obj
def lab_down(lab: Lab, vms_only: bool) -> None:
    """Stop exactly the processes `up` started."""
    _lab_call(lab.vms.down if vms_only else lab.down)
    click.echo("the lab's isolated VMs are down" if vms_only else "lab is down")


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
