"""Stage a release beside the live one: its bundle (changed files only, sha256-verified) and its
0600 .env in .dockyard/releases/<release>/files, so nothing the running stack reads changes
before `up` switches the release in (dockyard/pipeline/switch.py)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from dockyard.commands.compose import ENV_FILE, ComposeProject
from dockyard.commands.hoststate.paths import STATE_DIR
from dockyard.commands.hoststate.release import (
    RELEASE_ID,
    UNSAFE,
    install_manifest,
    manifest_problem,
    pending_changes,
    seed_release,
)
from dockyard.commands.hoststate.release import link_outside as link_outside_script
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
    script = (f"{install_manifest(state, release, len(listing))} && "
              f"{{ {pending_changes(state, release)}; }}")  # fmt: skip
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
    """Write the release's .env (the bundle's .env with the stack's env on top, every value
    literal) by SFTP with mode 0600; returns its remote path."""
    path = posixpath.join(hs.project.state.release_files(hs.loaded.release), ENV_FILE)
    runner.write_file(path, render(hs.stack.project_env()), mode=0o600,
                      deadline=deadline)  # fmt: skip
    return path


def outside_binds(config: Mapping[str, Any], files_dir: str, manifest: Iterable[str]) -> list[str]:
    """The relative bind-mount sources of the resolved config (sources under `files_dir`) that
    are not the release's own files: neither a bundle file nor a directory holding some."""
    listed = set(manifest)
    found = []
    for spec in (config.get("services") or {}).values():
        for volume in spec.get("volumes") or ():
            source = str(volume.get("source") or "") if volume.get("type") == "bind" else ""
            rel = posixpath.relpath(source, files_dir) if source.startswith(files_dir + "/") else ""
            if not rel or rel.startswith("..") or rel in found or rel.split("/")[0] == STATE_DIR:
                continue
            if rel not in listed and not any(p.startswith(rel + "/") for p in listed):
                found.append(rel)
    return sorted(found)


def link_outside(
    hs: HostStack, runner: Runner, deadline: Deadline, config: Mapping[str, Any]
) -> list[str]:
    """Link the release dir's relative bind mounts that are not bundle files (data dirs) to
    the project directory (link_paths); returns the linked paths."""
    files = hs.project.state.release_files(hs.loaded.release)
    paths = outside_binds(config, files, manifest(hs.stack.bundle))
    link_paths(hs, runner, deadline, paths)
    return paths


def link_paths(hs: HostStack, runner: Runner, deadline: Deadline, paths: Iterable[str]) -> None:
    """Make the release dir's links to the project directory for `paths` (relative; made at
    plan, and again after each sync, which removes every link in the files dir before it
    uploads: hoststate.release.link_outside)."""
    paths = list(paths)
    if not paths:
        return
    done = runner.run(link_outside_script(hs.project.state, hs.loaded.release, paths),
                      deadline=deadline, quiet=True, check=False)  # fmt: skip
    if done.exit_status == UNSAFE:
        raise switch.refused(hs, done.stderr)
    if done.exit_status != 0:
        raise DeployError(
            f"{hs.target.name}/{hs.stack.project}: linking {', '.join(paths)} in release "
            f"{hs.loaded.release}'s dir to {hs.stack.remote_dir} failed (exit "
            f"{done.exit_status}): {hs.mask(done.stderr.strip()[-500:])}; check the "
            "permissions of the stack's directory"
        )


def release_project(hs: HostStack) -> ComposeProject:
    """The stack as its staged release, same project name: the release's files dir is the
    project directory, so compose files, .env, env_file, relative bind mounts and build
    contexts are the release's own (a first deploy too), and other relative bind mounts are
    links to remote_dir (link_outside). Containers it creates mount from that dir: plan and
    jobs use it; `up` runs in remote_dir once the release is switched in."""
    return replace(hs.project, directory=hs.project.state.release_files(hs.loaded.release))


def stage(hs: HostStack, runner: Runner, deadline: Deadline) -> ComposeProject:
    """Stage bundle and .env (idempotent: a second call uploads nothing); the staged project."""
    sync(hs, runner, deadline)
    write_env(hs, runner, deadline)
    return release_project(hs)
