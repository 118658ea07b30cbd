"""The deploy's error types, and which of them a retry can fix."""

from __future__ import annotations


class DeployError(RuntimeError):
    """A deploy step failed; the message says what and how to fix it."""

    transient = False


class LockHeld(DeployError):
    """Another deploy holds the host's lock for this stack."""


class JobFailed(DeployError):
    """A one-off job (provisioning, migration) exited non-zero."""


class HealthCheckFailed(DeployError):
    """The stack did not become healthy after `up`."""


class ImageMissing(DeployError):
    """A per-deploy or to-be-pulled image does not exist in its registry."""


class PullFailed(DeployError):
    """The engine reported an error while pulling an image."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class DiskPressure(DeployError):
    """The disk gate still fails after every allowed prune step."""
