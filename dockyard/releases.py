"""Release records on the host: one JSON line per deploy attempt, images by digest, bounded."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from dockyard.commands import hoststate
from dockyard.ssh.link import Link

RELEASES_FILE = "releases.jsonl"
MAX_RECORDS = 500  # the history keeps the newest this many records (rotated on append)
MAX_BYTES = 8 << 20


@dataclass(frozen=True)
class Release:
    """What a deploy put on a host and how it ended. `refs` is the plan's service -> image as
    the compose config names it; `services` is, per service container, the image id and compose
    config hash it ran with when recorded (the convergence check compares both); `one_shot`
    names the services that are done once they exited 0."""

    id: str
    time: str
    actor: str
    run_id: str
    result: str
    config_hash: str
    images: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    services: dict[str, dict[str, str]] = field(default_factory=dict)
    one_shot: list[str] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return self.result == "succeeded"


def _path(state_dir: str) -> str:
    return f"{state_dir}/{RELEASES_FILE}"


def append(link: Link, state_dir: str, release: Release, timeout: float = 30.0) -> None:
    """Add one record, keeping the newest MAX_RECORDS (rewritten through a temp file + mv)."""
    line = (json.dumps(asdict(release), sort_keys=True) + "\n").encode()
    link.run(hoststate.history_append(_path(state_dir), MAX_RECORDS), timeout=timeout, stdin=line)


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def parse(text: str, warn: Callable[[str], None] = to_stderr) -> list[Release]:
    """Records from the history's text, oldest first; a partial or foreign line is skipped
    with a warning (each line stands alone: one bad line never costs its neighbour)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            found.append(Release(**json.loads(line)))
        except (ValueError, TypeError):
            warn(f"{RELEASES_FILE} line {number} is not a release record (cut off?): skipped")
    return found


def read_all(
    link: Link, state_dir: str, warn: Callable[[str], None] = to_stderr, timeout: float = 30.0
) -> list[Release]:
    """Every kept record, oldest first."""
    out = link.run(hoststate.history_read(_path(state_dir), MAX_RECORDS), timeout=timeout).stdout
    return parse(out[-MAX_BYTES:], warn)


def last_good(releases: list[Release], before: str | None = None) -> Release | None:
    """The newest succeeded release, optionally the newest one other than `before`."""
    for release in reversed(releases):
        if release.succeeded and release.id != before:
            return release
    return None


def rollback_target(releases: list[Release], to: str | None) -> Release | None:
    """What `dockyard rollback` goes back to: release `to` if it succeeded here, else the
    newest good release before the current one."""
    if to is not None:
        return last_good([r for r in releases if r.id == to])
    current = releases[-1].id if releases and releases[-1].succeeded else None
    return last_good(releases, before=current)


def kept_digests(releases: list[Release], keep: int) -> set[str]:
    """Image references of the last `keep` distinct succeeded releases (prune spares them): a
    release redeployed three times counts once."""
    kept: dict[str, Release] = {}
    for release in reversed(releases):
        if len(kept) >= keep:
            break
        if release.succeeded and release.id not in kept:
            kept[release.id] = release
    return {image for release in kept.values() for image in release.images.values()}
