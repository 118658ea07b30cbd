"""Switch the project directory to a staged release (at `up`, and back at rollback); keep the
last N releases' files on the host."""

from __future__ import annotations

from dockyard.commands.hoststate import (
    BLOCKED,
    RELEASE_ID,
    prune_releases,
    switch_release,
)
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.releases import Release
from dockyard.runner import Runner
from dockyard.session import HostStack

NOT_STAGED = 3


class ReleaseNotStaged(DeployError):
    """A release's files are not on the host (never staged, or removed by keep_releases)."""


class PathBlocked(DeployError):
    """A directory sits in the project directory where the release installs a file."""


def switch(hs: HostStack, runner: Runner, deadline: Deadline, release: str) -> list[str]:
    """Make the project directory hold `release`'s files and .env; returns what changed
    (`+ path` written, `- path` removed), in one command."""
    done = runner.run(switch_release(hs.project.state, release), deadline=deadline, check=False,
                      quiet=True)  # fmt: skip
    if done.exit_status == NOT_STAGED:
        raise ReleaseNotStaged(
            f"{hs.target.name}/{hs.stack.project}: release {release} has no staged files in "
            f"{hs.project.state.release_dir(release)}; deploy it again (keep more with "
            "disk.keep_releases)"
        )
    if done.exit_status == BLOCKED:
        paths = [p for p in done.stderr.splitlines() if p][:10]
        where = ", ".join(f"{hs.stack.remote_dir}/{p}" for p in paths)
        raise PathBlocked(
            f"{hs.target.name}/{hs.stack.project}: {where} is a directory where release "
            f"{release} installs a file; nothing was changed. Docker makes a directory where a "
            "bind-mounted file is missing: remove it (rm -r, after checking it holds nothing "
            "you need) and deploy again"
        )
    if done.exit_status != 0:
        raise DeployError(
            f"{hs.target.name}/{hs.stack.project}: switching {hs.stack.remote_dir} to release "
            f"{release} failed (exit {done.exit_status}): {hs.mask(done.stderr.strip()[-500:])}; "
            "check the directory's permissions and free space"
        )
    return [line for line in done.stdout.splitlines() if line]


def kept(history: list[Release], keep: int, release: str) -> list[str]:
    """`release` and the last `keep` distinct succeeded releases before it."""
    ids: list[str] = []
    for record in reversed(history):
        fine = record.succeeded and RELEASE_ID.fullmatch(record.id)
        if fine and record.id != release and record.id not in ids:
            ids.append(record.id)
    return [release, *ids[:keep]]


def prune(hs: HostStack, runner: Runner, deadline: Deadline, history: list[Release]) -> list[str]:
    """Remove the files of releases older than the kept ones; returns the removed ids."""
    keep = kept(history, hs.config.disk.keep_releases, hs.loaded.release)
    out = runner.run(prune_releases(hs.project.state, keep), deadline=deadline, quiet=True)
    return out.stdout.split()
