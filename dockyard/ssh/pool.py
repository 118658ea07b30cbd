"""A per-process pool of links keyed by target name, so tasks pass names, never connections."""

from __future__ import annotations

import threading

from dockyard.ssh.link import Link
from dockyard.ssh.settings import LinkSettings


class LinkPool:
    """Links by target name; thread-safe. get() connects lazily and rebuilds a dead link."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._links: dict[str, Link] = {}

    def register(self, settings: LinkSettings) -> None:
        """Add a target; registering changed settings for a name replaces (closes) its link."""
        with self._lock:
            old = self._links.get(settings.name)
            if old is not None and old.settings == settings:
                return
            self._links[settings.name] = Link(settings)
        if old is not None:
            old.close()

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._links)

    def get(self, name: str) -> Link:
        """The live link to `name` (connected now, or rebuilt if it died)."""
        with self._lock:
            link = self._links.get(name)
            known = ", ".join(sorted(self._links)) or "none"
        if link is None:
            raise KeyError(f"no target {name!r} is registered in this process (known: {known})")
        link.connect()
        return link

    def close_all(self) -> None:
        with self._lock:
            links = list(self._links.values())
            self._links.clear()
        for link in links:
            link.close()


default_pool = LinkPool()
