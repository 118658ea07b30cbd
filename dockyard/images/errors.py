"""Errors of the pull path: missing images, registry answers and engine pull failures (each
with `transient`)."""

from __future__ import annotations

from dockyard.errors import DeployError, DockyardError

PERMANENT_PULL = (
    "manifest unknown",
    "not found",
    "unauthorized",
    "denied",
    "no basic auth",
    "invalid",
)


class ImageMissing(DeployError):
    """A per-deploy or to-be-pulled image does not exist in its registry."""


class PullFailed(DeployError):
    """The engine reported an error while pulling an image."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class RegistryError(DockyardError):
    """A registry answered badly or not at all; `transient` says whether a retry can help."""

    def __init__(
        self,
        message: str,
        *,
        registry: str = "",
        image: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.registry = registry
        self.image = image
        self.status = status


class ManifestUnknown(RegistryError):
    """The tag or digest does not exist in the registry (HTTP 404); permanent."""


class RegistryAuthError(RegistryError):
    """The registry refused the credentials, or needs some (HTTP 401/403); permanent."""


class RegistryUnavailable(RegistryError):
    """5xx, 429, connection failure or timeout; transient, so the caller may retry."""

    transient = True


def pull_failed(image: str, message: str) -> PullFailed:
    """The error for an engine pull's error event: permanent when the registry refused the
    pull or has no such image (retrying cannot help), transient otherwise (5xx, resets)."""
    lowered = message.lower()
    transient = not any(word in lowered for word in PERMANENT_PULL)
    hint = "" if transient else "; check the image name and images.registries"
    return PullFailed(f"pull {image}: {message}{hint}", transient=transient)
