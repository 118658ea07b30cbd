"""The one list of floating tags: tags whose content moves by design, for lint and the planner.

A floating tag names a channel (latest, stable, nightly, ...), a branch (main, master, dev, ...)
or only a variant (alpine, slim); a tag made only of such words joined by `-` (stable-alpine,
mainline-slim) floats too. A version-bearing tag (7-alpine, 1.29.1, v2.0) does not.
`images.moving_tags` in deploy.yaml adds tags to this list, never removes any."""

from __future__ import annotations

from collections.abc import Iterable

FLOATING_TAGS = frozenset(
    {
        # channels and release tracks
        "latest", "stable", "release", "current", "lts", "mainline", "rolling", "edge",
        "nightly", "daily", "weekly", "canary", "beta", "alpha", "rc", "preview", "insiders",
        "next", "testing", "unstable", "experimental", "snapshot", "pre-release", "prerelease",
        # branches published as tags
        "main", "master", "trunk", "head", "dev", "develop", "development",
        # variants and distribution codenames that alone name "the newest build of this
        # variant" (nextcloud:apache, postgres:bookworm, wordpress:fpm-alpine)
        "alpine", "slim", "apache", "fpm", "cli", "bookworm", "bullseye", "buster", "trixie",
        "jammy", "noble", "focal",
    }
)  # fmt: skip


def floating_tags(extra: Iterable[str] = ()) -> frozenset[str]:
    """FLOATING_TAGS plus the config's own moving tags (`images.moving_tags`)."""
    if isinstance(extra, str):
        raise TypeError("moving tags must be a collection of tags, not a single string")
    return FLOATING_TAGS | frozenset(extra)


def is_floating(tag: str | None, extra: Iterable[str] = ()) -> bool:
    """Whether `tag` floats: in the list (or `extra`), or only floating words joined by `-`."""
    if tag is None:
        return False
    tags = floating_tags(extra)
    return tag in tags or all(part in tags for part in tag.split("-"))
