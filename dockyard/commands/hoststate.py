"""Host state: every path under a stack's `.dockyard/` and the scripts that read or write them.

The host is the shared storage of a deploy (the next run may start on another machine), so
everything a rerun needs lives here, next to the stack:

    <remote_dir>/                 the compose project directory (what the running stack reads)
    <remote_dir>/.dockyard/
        lock                      the deploy lease (owner, run id, expiry)
        attempt                   the open attempt of a release (journal key)
        journal/<attempt>.json    which steps of that attempt finished, with their results
        releases.jsonl            release history, newest last (bounded, rotated)
        restart-hashes.json       sha256 of the files restart rules watch
        images.override.yml       the rollback override (services pinned by digest)
        releases/<release>/       a release's staged bundle and .env (the last N are kept)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

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
    def attempt(self) -> str:
        return self._at("attempt")

    @property
    def journal_dir(self) -> str:
        return self._at("journal")

    def journal(self, attempt: str) -> str:
        return self._at("journal", f"{attempt}.json")

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
