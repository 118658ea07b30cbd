"""Put the stack on the host: the bundle (changed files only, verified) and the 0600 env file."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from dockyard.commands.compose import ENV_FILE
from dockyard.envfile import render
from dockyard.session import HostStack

STAGING_ROOT = "/tmp"


def sync(hs: HostStack) -> list[str]:
    """Upload bundle files whose sha256 differs on the host; returns the changed paths."""
    return hs.link.upload_tree(hs.stack.bundle, hs.stack.remote_dir)


def write_env(hs: HostStack, directory: str | None = None) -> str:
    """Write the rendered env file by SFTP with mode 0600; returns its remote path."""
    path = f"{directory or hs.stack.remote_dir}/{ENV_FILE}"
    hs.link.write_file(path, render(hs.stack.revealed_env()), mode=0o600)
    return path


@contextmanager
def staged(hs: HostStack, timeout: float) -> Iterator[str]:
    """A throwaway copy of bundle + env on the host (for `compose config` before any change),
    removed afterwards."""
    directory = f"{STAGING_ROOT}/dockyard-stage-{hs.stack.project}-{uuid.uuid4().hex[:10]}"
    try:
        hs.link.run(f"mkdir -m 700 {shlex.quote(directory)}", timeout=timeout)
        hs.link.upload_tree(hs.stack.bundle, directory)
        write_env(hs, directory)
        yield directory
    finally:
        hs.link.run(f"rm -rf {shlex.quote(directory)}", timeout=timeout, check=False)
