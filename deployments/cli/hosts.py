"""Commands that read the hosts directly: `dockyard exec`, `plan` and `releases`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import click

from deployments.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_LINK_LOST,
    config_option,
    or_exit,
    parse_sets,
    stack_hosts,
)
from dockyard.config import ConfigError, load_targets, with_unset_per_deploy


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.option("-c", "--config", "config_path", required=True, type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE")
@click.option("--host", "hosts", multiple=True, help="Only these targets (repeatable).")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds per host.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(
    config_path: str,
    sets: tuple[str, ...],
    hosts: tuple[str, ...],
    timeout: float,
    command: tuple[str, ...],
) -> None:
    """Run a command on the targets over the dockyard SSH link, streaming its output (the
    config's secrets masked)."""
    from dockyard.session import link_for
    from dockyard.ssh.errors import CommandTimeout, LinkError

    targets = or_exit(load_targets, config_path, parse_sets(sets))
    mask = _exec_masker(config_path, parse_sets(sets))
    chosen = [t for t in targets if not hosts or t.name in hosts]
    if hosts and len(chosen) != len(set(hosts)):
        unknown = sorted(set(hosts) - {t.name for t in targets})
        click.echo(f"unknown --host {', '.join(unknown)}; targets are "
                   f"{', '.join(t.name for t in targets)}", err=True)  # fmt: skip
        sys.exit(EXIT_BAD_INPUT)
    worst = 0
    for target in chosen:
        prefix = f"[{target.name}] " if len(chosen) > 1 else ""

        def show(stream: str, line: str, prefix: str = prefix) -> None:
            click.echo(prefix + mask(line.rstrip("\n")), err=stream == "stderr")

        try:
            result = link_for(target).run(list(command), timeout=timeout, on_output=show,
                                          check=False)  # fmt: skip
            status = result.exit_status
        except CommandTimeout as exc:
            click.echo(f"{prefix}{mask(str(exc))}", err=True)
            status = 124
        except LinkError as exc:
            click.echo(f"{prefix}{mask(str(exc))}", err=True)
            status = EXIT_LINK_LOST
        worst = status if status and not worst else worst
    sys.exit(worst)


def _exec_masker(config_path: str, variables: dict[str, str]) -> Callable[[str], str]:
    """The config's masker (per-deploy values not needed); when the whole config does not
    load, say that output is not masked and show it as it is."""
    from dockyard.session import DeployRequest, load

    try:
        return load(
            DeployRequest(config_path, with_unset_per_deploy(config_path, variables))
        ).masker
    except ConfigError as exc:
        first = exc.problems[0] if exc.problems else exc
        click.echo(f"warning: output is not masked: the config's secrets did not load ({first})",
                   err=True)  # fmt: skip
        return str


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON list for machines.")
def plan(config_path: str, sets: tuple[str, ...], as_json: bool) -> None:
    """Show, per host and image, whether a deploy would skip, pull or verify it (no changes)."""
    from dockyard.deadline import Deadline
    from dockyard.errors import DockyardError
    from dockyard.pipeline.images import plan_stack
    from dockyard.session import DeployRequest, host_stack, load
    from dockyard.ssh.errors import CommandFailed, LinkError

    request = DeployRequest(config_path, parse_sets(sets))
    loaded = or_exit(load, request)
    rows = []
    for target in loaded.config.targets:
        for stack in loaded.config.stacks:
            hs = host_stack(request, target.name, stack.project, log=lambda _m: None)
            try:
                timeout = loaded.config.steps.policy("plan").timeout
                decisions = plan_stack(hs, Deadline("plan", timeout)).plan.to_json()
            except DockyardError as exc:
                text = loaded.masker(str(exc))  # most errors name their host already
                named = text.startswith(f"{target.name}: ")
                click.echo(text if named else f"{target.name}: {text}", err=True)
                link_lost = isinstance(exc, LinkError) and not isinstance(exc, CommandFailed)
                sys.exit(EXIT_LINK_LOST if link_lost else 1)
            rows += [{"host": target.name, "project": stack.project, **d} for d in decisions]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['host']:8} {r['action']:6} {r['kind']:10} {r['image']:70} {r['reason']}")


@click.command("releases")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON list for machines.")
def releases_(config_path: str, sets: tuple[str, ...], as_json: bool) -> None:
    """List the release records kept on each host, oldest first."""
    from dataclasses import asdict

    from dockyard.deadline import Deadline
    from dockyard.errors import StepTimeout
    from dockyard.host import releases
    from dockyard.ssh.errors import LinkError

    rows = []
    for hs in stack_hosts(config_path, sets):
        try:
            deadline = Deadline("releases", releases.CALL_CAP)
            found = releases.read_all(hs.runner, hs.project.state, deadline)
        except (LinkError, StepTimeout) as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_LINK_LOST)
        where = {"host": hs.target.name, "project": hs.stack.project}
        rows += [{**where, **asdict(r)} for r in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['host']:8} {r['project']:10} {r['time']}  {r['result']:12} {r['id']}  "
                   f"run {r['run_id']}  by {r['actor']}"
                   + (f"  approved by {r['approved_by']}" if r["approved_by"] else ""))  # fmt: skip
