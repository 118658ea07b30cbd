"""What every `dockyard` command shares: exit codes, the -c/--set options, the actor, and the
load-config-or-exit helper (exit 2 with every problem found)."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, ParamSpec, TypeVar

import click

from dockyard.config import ConfigError, SecretLookup, with_unset_per_deploy
from dockyard.names import ENV_NAME

if TYPE_CHECKING:
    from dockyard.session import HostStack

EXIT_BAD_INPUT = 2
EXIT_LINK_LOST = 255

P = ParamSpec("P")
T = TypeVar("T")


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


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `message` on stderr and exit with `code`."""
    click.echo(message, err=True)
    sys.exit(code)


def or_exit(load: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`load(...)` (load_config, load_targets, session.load), or exit 2 printing its problems."""
    try:
        return load(*args, **kwargs)
    except ConfigError as exc:
        fail(str(exc))


def stack_hosts(config_path: str, sets: tuple[str, ...]) -> list[HostStack]:
    """Every (host, stack) HostStack of a config, for the commands that read hosts directly."""
    from dockyard.session import DeployRequest, host_stack, load

    variables = with_unset_per_deploy(config_path, parse_sets(sets))  # no release is deployed
    request = DeployRequest(config_path, variables, actor=actor())
    loaded = or_exit(load, request)
    return [
        host_stack(request, t.name, s.project, log=lambda m: click.echo(m, err=True))
        for t in loaded.config.targets
        for s in loaded.config.stacks
    ]


class _PrefectSecretsOnUse:
    """tasks.secrets.PrefectSecrets, imported only when a lookup needs it: a deploy whose
    secrets are all in the environment never imports Prefect for them, and a block the REST
    API gives at once (dockyard.secret_blocks) is read without Prefect too."""

    def _real(self) -> SecretLookup:
        from tasks.secrets import PrefectSecrets

        return PrefectSecrets()

    def where(self, name: str) -> str:
        return self._real().where(name)

    def __call__(self, name: str) -> str | None:
        from dockyard.secret_blocks import AskPrefect, read_secret_block, secret_block_name

        try:
            return read_secret_block(secret_block_name(name), os.environ)
        except AskPrefect:
            return self._real()(name)


def secret_lookup() -> SecretLookup | None:
    """Prefect Secret blocks as the second secret source when a Prefect API is configured
    (the flow registers the same lookup on the worker); none otherwise. Prefect is imported
    only if a secret is missing from the environment."""
    if not os.environ.get("PREFECT_API_URL"):
        return None
    return _PrefectSecretsOnUse()
