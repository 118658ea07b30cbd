"""Host state: every path under a stack's `.dockyard/` and the scripts that read or write them.

The host is the shared storage of a deploy (the next run may start on another machine), so
everything a rerun needs lives here, next to the stack:

    <remote_dir>/                 the compose project directory (what the running stack reads)
    <remote_dir>/.dockyard/
        lock                      the deploy lease (owner, run id, expiry)
        attempt                   the open attempt of a release (journal key)
        lock.guard                the flock(1) file every lock change is made under
        journal/<attempt>/<step>  which steps of that attempt finished, with their results
        jobs/<attempt>/<job>/     a detached job: run.sh, pid (pid + start ticks), out, exit
        releases.jsonl            release history, newest last (bounded, rotated)
        restart-hashes.json       sha256 of the files restart rules watch
        images.override.yml       the rollback override (services pinned by digest)
        current                   the release whose files the project directory holds now
        releases/<release>/
            files/                a release's staged bundle and .env (the last N are kept)
            manifest              the relative paths dockyard put there, one per line
            config.<key>.json     its `compose config` (0600), per docker CLI and compose build
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from dockyard.commands.shell import quote

STATE_DIR = ".dockyard"


@dataclass(frozen=True)
class HostState:
    """The state paths of one stack on one host."""

    remote_dir: str

    def _at(self, *parts: str) -> str:
        return posixpath.join(self.remote_dir, STATE_DIR, *parts)

    @property
    def root(self) -> str:
        return self._at()

    @property
    def lock(self) -> str:
        return self._at("lock")

    @property
    def lock_guard(self) -> str:
        return self._at("lock.guard")

    @property
    def attempt(self) -> str:
        return self._at("attempt")

    @property
    def journal_dir(self) -> str:
        return self._at("journal")

    def journal(self, attempt: str) -> str:
        return self._at("journal", attempt)

    def journal_entry(self, attempt: str, step: str) -> str:
        return self._at("journal", attempt, f"{entry_name(step)}.json")

    @property
    def jobs_dir(self) -> str:
        return self._at("jobs")

    def job_dir(self, attempt: str, job: str) -> str:
        return self._at("jobs", attempt, entry_name(job))

    @property
    def releases_log(self) -> str:
        return self._at("releases.jsonl")

    @property
    def restart_hashes(self) -> str:
        return self._at("restart-hashes.json")

    @property
    def override(self) -> str:
        return self._at("images.override.yml")

    @property
    def releases_dir(self) -> str:
        return self._at("releases")

    def release_dir(self, release: str) -> str:
        return self._at("releases", release)

    @property
    def current(self) -> str:
        return self._at("current")

    def release_files(self, release: str) -> str:
        return self._at("releases", release, "files")

    def release_manifest(self, release: str) -> str:
        return self._at("releases", release, "manifest")


def entry_name(step: str) -> str:
    """A file name for a step key ("pull 127.0.0.1:5000/app:v2"): safe characters only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", step).strip("_")[:200] or "_"


def mkdir_state(state: HostState) -> str:
    return f"mkdir -p {quote(state.root)}"


def write_atomic(path: str) -> str:
    """Write stdin to `path` (mode 0600) through a temp file and `mv`."""
    directory = quote(posixpath.dirname(path))
    target = quote(path)
    return (
        f'mkdir -p {directory} && umask 077 && t={target}.tmp.$$ && cat > "$t" && mv "$t" {target}'
    )


def read_if_there(path: str) -> str:
    """Print the file's content, nothing if it is absent."""
    return f"cat {quote(path)} 2>/dev/null; true"


def keep_only(directory: str, keep: str) -> str:
    """Remove every entry of `directory` except `keep` (old attempts' journals and jobs)."""
    return (
        f"[ -d {quote(directory)} ] && find {quote(directory)} -mindepth 1 -maxdepth 1 "
        f"! -name {quote(keep)} -exec rm -rf {{}} +; true"
    )
