"""`dockyard diff`: what a deploy of this config would change on each host (reads only)."""

from __future__ import annotations

import json
import sys

import click

from deployments.cli.options import (
    EXIT_BAD_INPUT,
    EXIT_LINK_LOST,
    config_option,
    fail,
    or_exit,
    parse_sets,
)

EXIT_CHANGES = 1


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON list for CI.")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 1 when something would change (0: no change, 2: bad input).")  # fmt: skip
def diff(config_path: str, sets: tuple[str, ...], as_json: bool, detailed_exitcode: bool) -> None:
    """Show, per host and stack, what a deploy would change: services, env keys (secrets
    masked), image digests, jobs and bundle files. Changes nothing and takes no lock."""
    from dockyard.deadline import Deadline
    from dockyard.diff import render
    from dockyard.diff.read import DiffInputError, stack_diff
    from dockyard.errors import DockyardError
    from dockyard.session import DeployRequest, load
    from dockyard.ssh.errors import CommandFailed, LinkError

    request = DeployRequest(config_path, parse_sets(sets))
    loaded = or_exit(load, request)
    timeout = loaded.config.steps.policy("plan").timeout
    diffs = []
    for target in loaded.config.targets:
        for stack in loaded.config.stacks:
            hs = loaded.host_stack(
                target.name, stack.project, log=lambda m: click.echo(m, err=True)
            )
            try:
                diffs.append(stack_diff(hs, Deadline("diff", timeout)))
            except DockyardError as exc:
                text = loaded.masker(str(exc))
                named = text.startswith(f"{target.name}")
                message = text if named else f"{target.name}: {text}"
                if isinstance(exc, DiffInputError | ValueError):
                    fail(message, EXIT_BAD_INPUT)
                link_lost = isinstance(exc, LinkError) and not isinstance(exc, CommandFailed)
                fail(message, EXIT_LINK_LOST if link_lost else 1)
    if as_json:
        click.echo(loaded.masker(json.dumps([d.to_json() for d in diffs], indent=2)))
    else:
        click.echo("\n".join(render.text(d, loaded.masker) for d in diffs))
    changed = any(d.changed for d in diffs)
    sys.exit(EXIT_CHANGES if changed and detailed_exitcode else 0)
