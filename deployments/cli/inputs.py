"""Input checks without a host: `dockyard validate`, `lint` and `pin`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deployments.cli.options import EXIT_BAD_INPUT, config_option, or_exit, parse_sets


@click.command()
@config_option
def validate(config_path: str, sets: tuple[str, ...]) -> None:
    """Check deploy.yaml and its bundles without contacting any host (exit 2 with every
    problem found, in one report)."""
    from dockyard.lint.bundle import validate as validate_config

    config = or_exit(validate_config, config_path, parse_sets(sets))
    from dockyard.config.public import secret_overlaps

    for warning in secret_overlaps(config):
        click.echo(f"{config_path}: warning: {warning}", err=True)
    targets = ", ".join(f"{t.name} ({t.user}@{t.host}:{t.port})" for t in config.targets)
    stacks = ", ".join(s.project for s in config.stacks)
    click.echo(f"{config_path}: ok; targets {targets}; stacks {stacks}")


@click.command()
@click.argument("compose_file", required=False, type=click.Path())
@click.option("-c", "--config", "config_path", type=click.Path(),
              help="Lint every compose file of this deploy.yaml's stacks instead.")  # fmt: skip
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="A variable for ${KEY} in the config's env (with -c; repeatable).")  # fmt: skip
def lint(compose_file: str | None, config_path: str | None, sets: tuple[str, ...]) -> None:
    """Report unpinned and mutable images (exit 1 if any), with file, line and service.

    Exit 0 clean, 1 findings, 2 input that cannot be linted (one line naming file and fix)."""
    from dockyard.compose.files import ComposeFileError
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


@click.command()
@click.argument("compose_file", type=click.Path())
@click.option("--write", is_flag=True, help="Rewrite the file in place (default: print it).")
def pin(compose_file: str, write: bool) -> None:
    """Rewrite image tags to tag@digest, resolved from the registry, keeping the layout.

    Every image that could not be pinned is named on stderr. Exit 0 all pinned, 1 a registry to
    retry or images set through variables, 2 bad input or an image the registry does not know."""
    from dockyard.compose.files import ComposeFileError
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
