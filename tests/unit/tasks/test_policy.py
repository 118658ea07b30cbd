"""Pure tests of the retry condition: which errors a task retry can fix."""

from __future__ import annotations

import pytest
import requests

from dockyard.disk.prune import DiskPressure
from dockyard.errors import (
    DeployError,
    HealthCheckFailed,
    JobFailed,
)
from dockyard.host.lease import LockHeld
from dockyard.images.errors import (
    ImageMissing,
    ManifestUnknown,
    PullFailed,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailable,
)
from dockyard.ssh.errors import (
    AuthFailed,
    CommandFailed,
    CommandTimeout,
    HostKeyRejected,
    LinkDown,
)
from tasks.policy import is_transient

TRANSIENT = [
    LinkDown("vm1", "no answer to keepalive"),
    CommandTimeout("vm1", "docker pull x", 30, killed=True),
    TimeoutError("timed out"),
    ConnectionResetError("reset by peer"),
    requests.exceptions.ConnectionError("refused"),
    requests.exceptions.ReadTimeout("read timed out"),
    RegistryUnavailable("503 from registry", registry="ghcr.io", status=503),
    PullFailed("unexpected EOF", transient=True),
]

PERMANENT = [
    ManifestUnknown("no such tag", registry="ghcr.io", image="app:v9", status=404),
    RegistryAuthError("denied", registry="ghcr.io", status=401),
    RegistryError("odd answer"),
    PullFailed("manifest unknown", transient=False),
    JobFailed("job 'migrate' exited 1"),
    LockHeld("held by run x"),
    HealthCheckFailed("api unhealthy"),
    ImageMissing("app:v9 does not exist"),
    DiskPressure("disk full"),
    DeployError("generic"),
    CommandFailed("vm1", "false", 1, ""),
    AuthFailed("vm1", "key refused", "add the key"),
    HostKeyRejected("vm1", "127.0.0.1:22", "ssh-ed25519", "SHA256:x", "unknown", "pin it"),
    ValueError("bad"),
    KeyError("x"),
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_transient(exc: BaseException) -> None:
    assert is_transient(exc) is True


@pytest.mark.parametrize("exc", PERMANENT, ids=lambda e: type(e).__name__)
def test_permanent(exc: BaseException) -> None:
    assert is_transient(exc) is False


def test_none_is_not_transient() -> None:
    assert is_transient(None) is False


def test_transient_flag_of_a_deploy_error_instance_decides() -> None:
    exc = HealthCheckFailed("flapping")
    exc.transient = True
    assert is_transient(exc) is True
