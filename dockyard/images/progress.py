"""Pull progress in this process: pull steps publish bytes, the CLI draws a bar per image."""

from __future__ import annotations

import threading
from collections.abc import Callable

Listener = Callable[[str, str, int, int], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


def subscribe(listener: Listener) -> None:
    """Receive (host, image, bytes done, bytes total) as pulls stream."""
    with _lock:
        _listeners.append(listener)


def unsubscribe(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def publish(host: str, image: str, done: int, total: int) -> None:
    """Tell every listener how far one pull is."""
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        listener(host, image, done, total)
