"""Pull progress reaches every subscribed listener until it unsubscribes."""

from __future__ import annotations

from dockyard.images import progress


def test_publish_reaches_subscribers_until_they_unsubscribe() -> None:
    seen: list[tuple[str, str, int, int]] = []

    def listener(host: str, image: str, done: int, total: int) -> None:
        seen.append((host, image, done, total))

    progress.subscribe(listener)
    progress.publish("vm1", "app:v1", 10, 100)
    progress.unsubscribe(listener)
    progress.publish("vm1", "app:v1", 100, 100)
    progress.unsubscribe(listener)
    assert seen == [("vm1", "app:v1", 10, 100)]
