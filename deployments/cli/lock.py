"""`dockyard lock status | release [--force]`: who holds each stack's deploy lease; free it."""

from __future__ import annotations

import json
import sys

import click

from deployments.cli.options import config_option, stack_hosts
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.host import lease
from dockyard.ssh.errors import LinkError


def _deadline() -> Deadline:
    """One stack's lock calls: as long as one call of a deploy's lock step may take."""
    return Deadline("lock", lease.CALL_TIMEOUT)


def describe(seen: lease.Seen) -> str:
    """One line on the lock as seen: free, unreadable, or its holder and lease time left."""
    if seen.text is None:
        return "free"
    holder = seen.owner
    if holder is None:
        return f"unreadable lock file ({seen.text[:60]!r})"
    left = holder.expires_at - seen.host_now
    lease = f"lease lapsed {-left:.0f} s ago" if left <= 0 else f"lease {left:.0f} s left"
    return f"held by {holder.describe()}; {lease}"


@click.group("lock")
def lock_group() -> None:
    """The stacks' host-side deploy leases."""


@lock_group.command("status")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON list for machines.")
def status(config_path: str, sets: tuple[str, ...], as_json: bool) -> None:
    """Name the holder of each stack's lock on each host."""
    rows = []
    for hs in stack_hosts(config_path, sets):
        try:
            seen = lease.read(hs.runner, hs.project.state, _deadline())
        except (DeployError, LinkError) as exc:
            click.echo(f"{hs.target.name}/{hs.stack.project}: {exc}", err=True)
            sys.exit(1)
        holder = seen.owner
        rows.append({
            "host": hs.target.name, "project": hs.stack.project, "state": describe(seen),
            "run_id": holder.run_id if holder else None,
            "expires_in": round(holder.expires_at - seen.host_now) if holder else None,
        })  # fmt: skip
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['host']}/{row['project']}: {row['state']}")


@lock_group.command("release")
@config_option
@click.option("--force", is_flag=True, help="Also free a lock whose lease is still live.")
def release_(config_path: str, sets: tuple[str, ...], force: bool) -> None:
    """Free each stack's lock: one left by a dead deploy (its lease lapsed, or unreadable), or
    with --force any lock, even one a running deploy renews (that deploy then stops)."""
    refused = False
    for hs in stack_hosts(config_path, sets):
        name = f"{hs.target.name}/{hs.stack.project}"
        run = hs.runner
        try:
            deadline = _deadline()
            seen = lease.read(run, hs.project.state, deadline)
            holder = seen.owner
            if seen.text is None:
                click.echo(f"{name}: free")
            elif holder is not None and not holder.expired(seen.host_now) and not force:
                click.echo(f"{name}: {describe(seen)}: not released (a deploy may be running; "
                           "--force frees it anyway)", err=True)  # fmt: skip
                refused = True
            elif lease.swap(run, hs.project.state, seen.text, None, deadline) is None:
                click.echo(f"{name}: released (was {describe(seen)})")
            else:
                click.echo(f"{name}: the lock changed meanwhile: run it again", err=True)
                refused = True
        except (DeployError, LinkError) as exc:
            click.echo(f"{name}: {exc}", err=True)
            sys.exit(1)
    sys.exit(1 if refused else 0)
