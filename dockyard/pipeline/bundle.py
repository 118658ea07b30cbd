"""Stage a release beside the live one: its bundle (changed files only, sha256-verified) and its
0600 .env in .dockyard/releases/<release>/files, so nothing the running stack reads changes
before `up` switches the release in (dockyard/pipeline/switch.py)."""

from __future__ import annotations

import posixpath
from dataclasses import replace
from pathlib import Path

from dockyard.commands.compose import ENV_FILE, ComposeProject
from dockyard.commands.hoststate.release import (
    RELEASE_ID,
    UNSAFE,
    install_manifest,
    manifest_problem,
    pending_changes,
    seed_release,
)
from dockyard.compose.envfile import render
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.pipeline import switch
from dockyard.runner import Runner
from dockyard.session import HostStack


class BundleInvalid(DeployError):
    """A bundle file cannot be staged (its name cannot be listed in a manifest)."""


def manifest(bundle: Path) -> list[str]:
    """The relative paths a release puts in the project directory: the bundle's files and .env."""
    paths = {ENV_FILE}
    for path in bundle.rglob("*"):
        if path.is_file():
            rel = path.relative_to(bundle).as_posix()
            if problem := manifest_problem(rel):
                raise BundleInvalid(
                    f"bundle file {rel!r} in {bundle} {problem}: it cannot be staged; rename "
                    "or move the file"
                )
            paths.add(rel)
    return sorted(paths)


def current_release(hs: HostStack, runner: Runner, deadline: Deadline) -> str | None:
    """The release whose files the project directory holds now (None before the first switch)."""
    raw = runner.read_file(hs.project.state.current, max_bytes=256, deadline=deadline)
    text = (raw or b"").decode(errors="replace").strip()
    return text if RELEASE_ID.fullmatch(text) else None


def sync(hs: HostStack, runner: Runner, deadline: Deadline) -> list[str]:
    """Stage the bundle in the release's files dir, seeded from the current release so only
    files whose sha256 differs are sent; drop files the bundle no longer has. Returns what
    switching to the release will change in the project directory (`+ path`, `- path`)."""
    state, release = hs.project.state, hs.loaded.release
    runner.run(seed_release(state, release, current_release(hs, runner, deadline)),
               deadline=deadline)  # fmt: skip
    files = state.release_files(release)
    runner.upload_tree(hs.stack.bundle, files, deadline=deadline)
    listing = "".join(f"{rel}\n" for rel in manifest(hs.stack.bundle)).encode()
    script = f"{install_manifest(state, release)} && {{ {pending_changes(state, release)}; }}"
    done = runner.run(script, deadline=deadline, stdin=listing, quiet=True, check=False)
    if done.exit_status == UNSAFE:
        raise switch.refused(hs, done.stderr)
    if done.exit_status != 0:
        raise DeployError(
            f"{hs.target.name}/{hs.stack.project}: staging release {release} failed (exit "
            f"{done.exit_status}): {hs.mask(done.stderr.strip()[-500:])}; check the "
            "permissions and free space of the stack's directory"
        )
    return [line for line in done.stdout.splitlines() if line]


def write_env(hs: HostStack, runner: Runner, deadline: Deadline) -> str:
    """Write the release's rendered .env by SFTP with mode 0600; returns its remote path."""
    path = posixpath.join(hs.project.state.release_files(hs.loaded.release), ENV_FILE)
    runner.write_file(path, render(hs.stack.revealed_env()), mode=0o600,
                      deadline=deadline)  # fmt: skip
    return path


def release_project(hs: HostStack) -> ComposeProject:
    """The stack as its staged release: compose files and .env from the release's files dir,
    the project directory (relative paths, volumes' data) still the stack's remote_dir."""
    files = hs.project.state.release_files(hs.loaded.release)
    return replace(
        hs.project,
        files=tuple(posixpath.join(files, name) for name in hs.project.files),
        env_file=posixpath.join(files, ENV_FILE),
    )


def stage(hs: HostStack, runner: Runner, deadline: Deadline) -> ComposeProject:
    """Stage bundle and .env (idempotent: a second call uploads nothing); the staged project."""
    sync(hs, runner, deadline)
    write_env(hs, runner, deadline)
    return release_project(hs)
