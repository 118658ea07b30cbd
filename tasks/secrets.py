"""Prefect Secret blocks as the second source of `${secret:NAME}`, after the environment.

Served deployments run on workers whose environment may not hold the secrets; there the
flow registers this lookup: `session.set_secret_lookup(PrefectSecrets())`. Secret NAME is
read from the Secret block `secret_block_name(NAME)` (Prefect block names allow only
lowercase letters, digits and dashes: DB_PASSWORD -> db-password), and only when a
Prefect API URL is configured (never from an ephemeral server)."""

from __future__ import annotations

from prefect.blocks.system import Secret
from prefect.exceptions import ObjectNotFound
from prefect.settings import PREFECT_API_REQUEST_TIMEOUT, PREFECT_API_URL, temporary_settings

from dockyard.config import SecretSourceError
from dockyard.secret_blocks import secret_block_name

REQUEST_TIMEOUT = 15.0
_API_FIX = "check PREFECT_API_URL and that the Prefect server answers, or export the secret"


class PrefectSecrets:
    """A SecretLookup reading Prefect Secret blocks through the configured Prefect API."""

    def where(self, name: str) -> str:
        """Where secret `name` is looked for, for messages."""
        return f"a Prefect Secret block named {secret_block_name(name)!r}"

    def __call__(self, name: str) -> str | None:
        """The block's value, or None without an API URL or without such a block."""
        if not PREFECT_API_URL.value():
            return None
        try:
            with temporary_settings({PREFECT_API_REQUEST_TIMEOUT: REQUEST_TIMEOUT}):
                block = Secret.load(secret_block_name(name), _sync=True)
        except ValueError as exc:
            if isinstance(exc.__cause__, ObjectNotFound):
                return None
            raise SecretSourceError(
                f"cannot read {self.where(name)}: {type(exc).__name__}", _API_FIX
            ) from None
        except Exception as exc:
            raise SecretSourceError(
                f"cannot read {self.where(name)}: {type(exc).__name__}", _API_FIX
            ) from None
        value = block.value.get_secret_value()
        if not isinstance(value, str):
            raise SecretSourceError(
                f"{self.where(name)} holds a {type(value).__name__}, not a string",
                f"save it as a string: Secret(value='...').save({secret_block_name(name)!r})",
            )
        return value
