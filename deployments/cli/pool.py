"""`dockyard pool deploy`: the process work pool and the `dockyard-host/<pool>` deployment."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deployments.cli.options import EXIT_BAD_INPUT, config_option, or_exit, parse_sets
from dockyard.config import load_targets

REPO = Path(__file__).resolve().parents[2]
ENTRYPOINT = "flows/pool_host.py:pool_host_deploy"
API_TIMEOUT = 30.0


def ensure_pool(name: str) -> bool:
    """Create process work pool `name` unless it exists; True if it was created."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
            return False
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))
            return True


def deploy_pool(name: str, config_path: str) -> str:
    """Register `dockyard-host/<name>` on pool `name`: the host flow of this checkout (the
    worker runs it from here), with the config path as the worker sees it. Returns its id."""
    from prefect.flows import Flow

    remote = Flow.from_source(source=str(REPO), entrypoint=ENTRYPOINT)
    deployment_id = remote.deploy(  # type: ignore[union-attr]
        name=name,
        work_pool_name=name,
        parameters={"config_path": str(Path(config_path).resolve())},
        description=f"dockyard host runs of {Path(config_path).name} on pool {name}",
        tags=["dockyard"],
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,
    )
    return str(deployment_id)


@click.group()
def pool() -> None:
    """Prefect work pools that deploy targets with `pool:` (needs PREFECT_API_URL)."""


@pool.command("deploy")
@config_option
@click.option("--pool", "names", multiple=True,
              help="Only this pool (repeatable; default: each pool the config names).")  # fmt: skip
def pool_deploy(config_path: str, sets: tuple[str, ...], names: tuple[str, ...]) -> None:
    """Create each process work pool if missing and its `dockyard-host/<pool>` deployment;
    then start workers with `prefect worker start --pool NAME --type process`."""
    from prefect.settings import PREFECT_API_REQUEST_TIMEOUT, PREFECT_API_URL, temporary_settings

    targets = or_exit(load_targets, config_path, parse_sets(sets))
    named = sorted({t.pool for t in targets if t.pool})
    chosen = list(names) or named
    if not chosen or not PREFECT_API_URL.value():
        click.echo("no pool to set up: name one with --pool or set targets[].pool"
                   if not chosen else "set PREFECT_API_URL to the Prefect API the workers poll",
                   err=True)  # fmt: skip
        sys.exit(EXIT_BAD_INPUT)
    with temporary_settings({PREFECT_API_REQUEST_TIMEOUT: API_TIMEOUT}):
        for name in chosen:
            created = ensure_pool(name)
            deployment = deploy_pool(name, config_path)
            click.echo(f"pool {name}: {'created' if created else 'exists'}; deployment "
                       f"dockyard-host/{name} ({deployment}); start a worker: prefect worker "
                       f"start --pool {name} --type process")  # fmt: skip
