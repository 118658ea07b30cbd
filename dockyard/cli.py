"""The core `dockyard` commands: lab, validate, exec, plan, releases, rollback, lint, pin."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dockyard.config import ConfigError, load_targets
from dockyard.names import ENV_NAME

if TYPE_CHECKING:
    from dockyard.lab.lab import Lab
    from dockyard.session import HostStack

# Only config loading is imported up front: the SSH link, the lab (docker, httpx) and Prefect
# load inside the commands that use them, so validate, lint and --help start fast.

EXIT_BAD_INPUT = 2
EXIT_LINK_LOST = 255
LOCAL_API_MARK = "DOCKYARD_LOCAL_API"  # "1" while the CLI's one-run local API serves a deploy


def actor() -> str:
    """Who deploys: $DOCKYARD_ACTOR, the CI's actor, or the local user."""
    return os.environ.get("DOCKYARD_ACTOR") or os.environ.get("GITHUB_ACTOR") or getpass.getuser()


def parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    """`--set K=V` options to a mapping; a malformed one is a usage error."""
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not ENV_NAME.fullmatch(key):
            raise click.BadParameter(
                f"{item!r} is not NAME=VALUE (NAME: letters, digits and _, not starting with a"
                " digit)",
                param_hint="--set",
            )
        out[key] = value
    return out


def config_option(fn: Callable[..., object]) -> Callable[..., object]:
    fn = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                      help="A variable for ${KEY} in the config (repeatable).")(fn)  # fmt: skip
    return click.option("-c", "--config", "config_path", required=True,
                        type=click.Path(dir_okay=False), help="deploy.yaml")(fn)  # fmt: skip


def fail_config(exc: ConfigError) -> None:
    click.echo(str(exc), err=True)
    sys.exit(EXIT_BAD_INPUT)


@click.group()
def main() -> None:
    """Deploy Docker Compose stacks to VMs over SSH as a Prefect flow."""


@main.command()
@config_option
def validate(config_path: str, sets: tuple[str, ...]) -> None:
    """Check deploy.yaml and its bundles without contacting any host (exit 2 with every
    problem found, in one report)."""
    from dockyard.lint.bundle import validate as validate_config

    try:
        config = validate_config(config_path, parse_sets(sets))
    except ConfigError as exc:
        fail_config(exc)
        return
    targets = ", ".join(f"{t.name} ({t.user}@{t.host}:{t.port})" for t in config.targets)
    stacks = ", ".join(s.project for s in config.stacks)
    click.echo(f"{config_path}: ok; targets {targets}; stacks {stacks}")


@main.command("exec", context_settings={"ignore_unknown_options": True})
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
    """Run a command on the targets over the dockyard SSH link, streaming its output."""
    from dockyard.session import link_for
    from dockyard.ssh.errors import CommandTimeout, LinkError

    try:
        targets = load_targets(config_path, parse_sets(sets))
    except ConfigError as exc:
        fail_config(exc)
        return
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
            click.echo(prefix + line.rstrip("\n"), err=stream == "stderr")

        try:
            result = link_for(target).run(list(command), timeout=timeout, on_output=show,
                                          check=False)  # fmt: skip
            status = result.exit_status
        except CommandTimeout as exc:
            click.echo(f"{prefix}{exc}", err=True)
            status = 124
        except LinkError as exc:
            click.echo(f"{prefix}{exc}", err=True)
            status = EXIT_LINK_LOST
        worst = status if status and not worst else worst
    sys.exit(worst)


@main.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON list for machines.")
def plan(config_path: str, sets: tuple[str, ...], as_json: bool) -> None:
    """Show, per host and image, whether a deploy would skip, pull or verify it (no changes)."""
    from dockyard.deadline import Deadline
    from dockyard.errors import DockyardError
    from dockyard.images.steps import plan_stack
    from dockyard.session import DeployRequest, host_stack, load
    from dockyard.ssh.errors import CommandFailed, LinkError

    request = DeployRequest(config_path, parse_sets(sets))
    try:
        loaded = load(request)
    except ConfigError as exc:
        fail_config(exc)
        return
    rows = []
    for target in loaded.config.targets:
        for stack in loaded.config.stacks:
            hs = host_stack(request, target.name, stack.project, log=lambda _m: None)
            try:
                timeout = loaded.config.steps.policy("plan").timeout
                decisions = plan_stack(hs, Deadline("plan", timeout)).plan.to_json()
            except DockyardError as exc:
                click.echo(f"{target.name}: {loaded.masker(str(exc))}", err=True)
                link_lost = isinstance(exc, LinkError) and not isinstance(exc, CommandFailed)
                sys.exit(EXIT_LINK_LOST if link_lost else 1)
            rows += [{"host": target.name, "project": stack.project, **d} for d in decisions]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['host']:8} {r['action']:6} {r['kind']:10} {r['image']:70} {r['reason']}")


@main.command()
@click.argument("compose_file", required=False, type=click.Path())
@click.option("-c", "--config", "config_path", type=click.Path(),
              help="Lint every compose file of this deploy.yaml's stacks instead.")  # fmt: skip
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="A variable for ${KEY} in the config's env (with -c; repeatable).")  # fmt: skip
def lint(compose_file: str | None, config_path: str | None, sets: tuple[str, ...]) -> None:
    """Report unpinned and mutable images (exit 1 if any), with file, line and service.

    Exit 0 clean, 1 findings, 2 input that cannot be linted (one line naming file and fix)."""
    from dockyard.compose_files import ComposeFileError
    from dockyard.lint.compose import lint_compose
    from dockyard.lint.config import lint_config

    if bool(compose_file) == bool(config_path):
        raise click.UsageError("give a compose file or -c deploy.yaml (one of them)")
    if sets and not config_path:
        raise click.UsageError("--set is for the config's env: use it with -c deploy.yaml")
    try:
        if config_path:
            findings = lint_config(Path(config_path), parse_sets(sets))
        else:
            findings = lint_compose(compose_file or "")
    except ComposeFileError as exc:
        click.echo(f"lint: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for finding in findings:
        click.echo(str(finding))
    sys.exit(1 if any(f.failing for f in findings) else 0)


@main.command()
@click.argument("compose_file", type=click.Path())
@click.option("--write", is_flag=True, help="Rewrite the file in place (default: print it).")
def pin(compose_file: str, write: bool) -> None:
    """Rewrite image tags to tag@digest, resolved from the registry, keeping the layout.

    Every image that could not be pinned is named on stderr. Exit 0 all pinned, 1 a registry to
    retry or images set through variables, 2 bad input or an image the registry does not know."""
    from dockyard.compose_files import ComposeFileError
    from dockyard.images.registry import RegistryClient
    from dockyard.lint.pin import pin_report

    try:
        with RegistryClient() as registry:
            report = pin_report(compose_file, registry.manifest_digest)
        if write:
            Path(compose_file).write_text(report.text, encoding="utf-8")
    except ComposeFileError as exc:
        click.echo(f"pin: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except OSError as exc:
        click.echo(f"pin: cannot write {compose_file}: {exc.strerror or exc}; check its "
                   "permissions", err=True)  # fmt: skip
        sys.exit(EXIT_BAD_INPUT)
    if not write:
        click.echo(report.text, nl=False)
    for line in report.problems():
        click.echo(f"pin: {line}", err=True)
    sys.exit(report.exit_code)


@main.group()
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


def _stack_hosts(config_path: str, sets: tuple[str, ...]) -> list[HostStack]:
    """Every (host, stack) HostStack of a config, for the release commands."""
    from dockyard.session import DeployRequest, host_stack, load

    request = DeployRequest(config_path, parse_sets(sets), actor=actor())
    try:
        loaded = load(request)
    except ConfigError as exc:
        fail_config(exc)
        raise
    return [
        host_stack(request, t.name, s.project, log=lambda m: click.echo(m, err=True))
        for t in loaded.config.targets
        for s in loaded.config.stacks
    ]


@main.command("releases")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON list for machines.")
def releases_(config_path: str, sets: tuple[str, ...], as_json: bool) -> None:
    """List the release records kept on each host, oldest first."""
    from dataclasses import asdict

    from dockyard import releases
    from dockyard.ssh.errors import LinkError

    rows = []
    for hs in _stack_hosts(config_path, sets):
        try:
            found = releases.read_all(hs.link, hs.project.state.root)
        except LinkError as exc:
            click.echo(str(exc), err=True)
            sys.exit(EXIT_LINK_LOST)
        where = {"host": hs.target.name, "project": hs.stack.project}
        rows += [{**where, **asdict(r)} for r in found]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['host']:8} {r['project']:10} {r['time']}  {r['result']:12} {r['id']}  "
                   f"run {r['run_id']}  by {r['actor']}")  # fmt: skip
