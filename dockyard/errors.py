"""dockyard's exception root: every error says what and how to fix it, and whether a retry can
help (`transient`); every error pickles (Prefect stores task states and results). Errors of one
package's concept live beside it (host/lease, images/errors, disk, ssh/errors, config); the
step errors no package owns live here."""

from __future__ import annotations

from typing import Any


def _rebuild(cls: type[DockyardError], message: str, state: dict[str, Any]) -> DockyardError:
    """Unpickle without calling a subclass's own __init__ (whose arguments differ)."""
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class DockyardError(Exception):
    """The root: any failure dockyard raises. `transient` decides retries (one place)."""

    transient: bool = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), str(self), dict(self.__dict__)))


class DeployError(DockyardError):
    """A deploy step failed; the message says what and how to fix it."""


class StepTimeout(DeployError):
    """A step ran past its `timeout` (steps.<name>.timeout); its remote processes were killed."""

    transient = True

    def __init__(self, step: str, timeout: float, doing: str = "") -> None:
        during = f" (during {doing})" if doing else ""
        super().__init__(
            f"step {step} ran past its {timeout:g} s timeout{during}; raise "
            f"steps.{step}.timeout or find what is slow on the host"
        )
        self.step = step
        self.timeout = timeout


class JobFailed(DeployError):
    """A one-off job (provisioning, migration) exited non-zero."""


class HealthCheckFailed(DeployError):
    """The stack did not become healthy after `up`."""
