"""Release records on the host: one JSON line per deploy attempt, images by digest."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass, field

from dockyard.ssh.link import Link

RELEASES_FILE = "releases.jsonl"


@dataclass(frozen=True)
class Release:
    """What a deploy put on a host and how it ended."""

    id: str
    time: str
    actor: str
    run_id: str
    result: str
    config_hash: str
    images: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result == "succeeded"


def append(link: Link, state_dir: str, release: Release, timeout: float = 30.0) -> None:
    """Add one record (atomic enough: a single short append)."""
    line = (json.dumps(asdict(release), sort_keys=True) + "\n").encode()
    path = shlex.quote(f"{state_dir}/{RELEASES_FILE}")
    link.run(f"mkdir -p {shlex.quote(state_dir)} && cat >> {path}", timeout=timeout, stdin=line)


def read_all(link: Link, state_dir: str, max_bytes: int = 4 << 20) -> list[Release]:
    """Every record, oldest first; unreadable lines are skipped."""
    data = link.read_file(f"{state_dir}/{RELEASES_FILE}", max_bytes=max_bytes)
    releases = []
    for line in (data or b"").decode(errors="replace").splitlines():
        try:
            releases.append(Release(**json.loads(line)))
        except (ValueError, TypeError):
            continue
    return releases


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
    """Image references of the last `keep` succeeded releases (prune must spare them)."""
    good = [r for r in releases if r.succeeded][-keep:] if keep > 0 else []
    return {image for release in good for image in release.images.values()}
