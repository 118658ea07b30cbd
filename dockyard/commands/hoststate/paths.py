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

What is read back from here is input, not truth (anything that can write under remote_dir can
write it): an attempt token is hex (ATTEMPT), a release id one safe word (release.RELEASE_ID),
a manifest line a normal relative path outside .dockyard/. The scripts never follow a link they
did not make: temp files come from `mktemp` in the target's directory and land with `mv -T`;
`.dockyard/` is 0700 (guard.py checks it and remote_dir's parents before any write).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from dockyard.commands.shell import quote, take_stdin

STATE_DIR = ".dockyard"
ATTEMPT = re.compile(r"[0-9a-f]{1,64}")


def checked_attempt(attempt: str) -> str:
    """An attempt token (hex) safe as one path component, or ValueError."""
    if not ATTEMPT.fullmatch(attempt):
        raise ValueError(f"attempt token {attempt[:80]!r} is not hex")
    return attempt


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
        return self._at("journal", checked_attempt(attempt))

    def journal_entry(self, attempt: str, step: str) -> str:
        return self._at("journal", checked_attempt(attempt), f"{entry_name(step)}.json")

    @property
    def jobs_dir(self) -> str:
        return self._at("jobs")

    def job_dir(self, attempt: str, job: str) -> str:
        return self._at("jobs", checked_attempt(attempt), entry_name(job))

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
    """sh: make remote_dir and its `.dockyard/` (mode 0700); fail if `.dockyard` is a link."""
    root = quote(state.root)
    return (
        f"mkdir -p -- {quote(state.remote_dir)} && {{ [ -d {root} ] || mkdir -m 700 -- {root}; }}"
        f" && [ ! -L {root} ] && chmod 700 -- {root}"
    )


def temp_beside(path: str) -> str:
    """sh: set $t to a new empty file (0600) in `path`'s directory, made by `mktemp` (a name
    nobody could plant)."""
    return f"t=$(mktemp -- {quote(path + '.XXXXXX')})"


def land(path: str) -> str:
    """sh: rename $t onto `path` (`mv -T`: a link or directory planted at `path` is replaced or
    refused, never followed); $t is removed if that fails."""
    return f'{{ mv -fT -- "$t" {quote(path)} || {{ rm -f -- "$t"; false; }}; }}'


def write_atomic(path: str, size: int) -> str:
    """Write stdin (`size` bytes, or nothing lands) to `path` (mode 0600) through a `mktemp`
    file and `mv -T`."""
    took = take_stdin('"$t"', size)
    return (
        f"mkdir -p -- {quote(posixpath.dirname(path))} && {temp_beside(path)} && "
        f'{{ {took} || {{ rm -f -- "$t"; false; }}; }} && {land(path)}'
    )


def read_if_there(path: str) -> str:
    """Print the file's content, nothing if it is absent."""
    return f"cat {quote(path)} 2>/dev/null; true"


def keep_only(directory: str, keep: str) -> str:
    """Remove every entry of `directory` except `keep` (old attempts' journals and jobs); a
    `directory` that is a link is left alone (rm never works through a link)."""
    d = quote(directory)
    return (
        f"[ -d {d} ] && [ ! -L {d} ] && find {d} -mindepth 1 -maxdepth 1 "
        f"! -name {quote(keep)} -exec rm -rf -- {{}} +; true"
    )
