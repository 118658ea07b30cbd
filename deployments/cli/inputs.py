"""Input checks without a host: `dockyard validate`, `lint` and `pin`."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

import click

from deployments.cli.options import EXIT_BAD_INPUT, config_option, or_exit, parse_sets
from dockyard.config import DeployConfig, load_config


@click.command()
@config_option
def validate(config_path: str, sets: tuple[str, ...]) -> None:
    """Check deploy.yaml without contacting any host (exit 2 with every problem found)."""
    config = or_exit(load_config, config_path, parse_sets(sets))
    _check_bundles(config_path, config)
    targets = ", ".join(f"{t.name} ({t.user}@{t.host}:{t.port})" for t in config.targets)
    stacks = ", ".join(s.project for s in config.stacks)
    click.echo(f"{config_path}: ok; targets {targets}; stacks {stacks}")


def _check_bundles(config_path: str, config: DeployConfig) -> None:
    """Exit 2 listing every bundle problem (compose parse, missing files, unknown services)."""
    from dockyard.bundle_check import check_bundles

    problems = check_bundles(config)
    if problems:
        count = f"{len(problems)} bundle problem{'s' if len(problems) != 1 else ''}"
        click.echo(f"{config_path}: {count}", err=True)
        for problem in problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_BAD_INPUT)


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
    from dockyard.lint import lint_compose

    if bool(compose_file) == bool(config_path):
        raise click.UsageError("give a compose file or -c deploy.yaml (one of them)")
    if sets and not config_path:
        raise click.UsageError("--set is for the config's env: use it with -c deploy.yaml")
    try:
        findings = [
            finding
            for files, variables, moving in _compose_files(compose_file, config_path, sets)
            for path in files
            for finding in lint_compose(path, variables, moving, dotenv=variables is None)
        ]
    except ComposeFileError as exc:
        click.echo(f"lint: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for finding in findings:
        click.echo(str(finding))
    sys.exit(1 if any(f.failing for f in findings) else 0)


def _compose_files(
    compose_file: str | None, config_path: str | None, sets: tuple[str, ...]
) -> list[tuple[tuple[Path, ...], Mapping[str, str] | None, frozenset[str]]]:
    """(compose files, variables, moving tags) per stack of -c deploy.yaml (the stack's env,
    which dockyard writes as the host's .env), or the one file (the environment and its .env)."""
    from dockyard.lint_config import lint_stacks

    if compose_file:
        return [((Path(compose_file),), None, frozenset())]
    stacks = lint_stacks(Path(config_path or ""), parse_sets(sets))
    return [(s.files, s.variables, s.moving_tags) for s in stacks]


@click.command()
@click.argument("compose_file", type=click.Path())
@click.option("--write", is_flag=True, help="Rewrite the file in place (default: print it).")
def pin(compose_file: str, write: bool) -> None:
    """Rewrite image tags to tag@digest, resolved from the registry, keeping the layout.

    Exit 0 pinned, 1 a registry that cannot be reached (retry), 2 bad input or unknown image."""
    from dockyard.compose.files import ComposeFileError
    from dockyard.images.registry import RegistryClient
    from dockyard.pin import PinFailed, pin_compose

    try:
        with RegistryClient() as registry:
            text = pin_compose(compose_file, registry.manifest_digest)
        if write:
            Path(compose_file).write_text(text, encoding="utf-8")
    except ComposeFileError as exc:
        click.echo(f"pin: {exc}", err=True)
        sys.exit(1 if isinstance(exc, PinFailed) and exc.transient else EXIT_BAD_INPUT)
    except OSError as exc:
        click.echo(f"pin: cannot write {compose_file}: {exc.strerror or exc}; check its "
                   "permissions", err=True)  # fmt: skip
        sys.exit(EXIT_BAD_INPUT)
    if not write:
        click.echo(text, nl=False)
