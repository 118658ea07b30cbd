"""Pull one image through a docker-py client, streaming progress and checking every event."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import docker

from dockyard.errors import PullFailed
from dockyard.images.ref import ImageRef

PERMANENT = ("manifest unknown", "not found", "unauthorized", "denied", "no basic auth", "invalid")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PullResult:
    """What a pull moved: bytes downloaded (layers not already present) and how long it took."""

    image: str
    bytes: int
    layers_downloaded: int
    layers_present: int
    seconds: float


def is_transient(message: str) -> bool:
    """Engine pull errors that a retry can fix (registry 5xx, resets, timeouts)."""
    lowered = message.lower()
    return not any(word in lowered for word in PERMANENT)


def pull(
    client: docker.DockerClient,
    ref: ImageRef,
    *,
    deadline: float,
    auth: Mapping[str, str] | None = None,
    on_progress: Progress | None = None,
) -> PullResult:
    """Pull `ref` (by digest when it has one); raise PullFailed on any error event or past
    `deadline` (a time.monotonic() value), closing the stream so the engine cancels the pull."""
    started = time.monotonic()
    tag = ref.digest or ref.tag
    stream = client.api.pull(
        ref.name, tag=tag, stream=True, decode=True, auth_config=dict(auth) if auth else None
    )
    totals: dict[str, int] = {}
    current: dict[str, int] = {}
    present = 0
    try:
        for event in stream:
            if "error" in event:
                message = str(event.get("error"))
                raise PullFailed(f"pull {ref.familiar}: {message}", transient=is_transient(message))
            status = event.get("status", "")
            layer = event.get("id", "")
            detail = event.get("progressDetail") or {}
            if status == "Downloading" and detail.get("total"):
                totals[layer] = int(detail["total"])
                current[layer] = int(detail.get("current", 0))
            elif status == "Download complete" and layer in totals:
                current[layer] = totals[layer]
            elif status == "Already exists":
                present += 1
            if on_progress:
                on_progress(ref.familiar, sum(current.values()), sum(totals.values()))
            if time.monotonic() > deadline:
                raise PullFailed(f"pull {ref.familiar}: ran past its timeout", transient=True)
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    return PullResult(
        ref.familiar,
        sum(current.values()),
        len(totals),
        present,
        round(time.monotonic() - started, 3),
    )
