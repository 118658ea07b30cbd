"""Pull one image through a docker-py client within the step's deadline, checking every event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import docker
import requests

from dockyard.deadline import Deadline
from dockyard.images.credentials import RegistryLogins
from dockyard.images.errors import pull_failed
from dockyard.images.ref import ImageRef

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class PullResult:
    """What a pull moved: bytes the engine fetched (layers it did not have) and how long."""

    image: str
    bytes: int
    layers_downloaded: int
    layers_present: int
    seconds: float


def engine_pull(
    client: docker.DockerClient,
    ref: ImageRef,
    *,
    deadline: Deadline,
    logins: RegistryLogins,
    on_progress: Progress | None = None,
) -> int:
    """Pull `ref` (by digest when it has one), with the login `logins.credentials_for(ref)`
    picks, and return the bytes its progress events showed; raise PullFailed on an error event
    and StepTimeout past `deadline`, closing the stream so the engine cancels the API pull."""
    doing = f"pulling {ref.familiar}"
    deadline.check(doing)
    login = logins.credentials_for(ref)
    stream = client.api.pull(
        ref.name,
        tag=ref.digest or ref.tag,
        stream=True,
        decode=True,
        auth_config=login.auth_config() if login else None,
    )
    totals: dict[str, int] = {}
    current: dict[str, int] = {}
    try:
        for event in stream:
            if "error" in event:
                raise pull_failed(ref.familiar, str(event.get("error")))
            status = event.get("status", "")
            layer = event.get("id", "")
            detail = event.get("progressDetail") or {}
            if status == "Downloading" and detail.get("total"):
                totals[layer] = int(detail["total"])
                current[layer] = int(detail.get("current", 0))
            elif status == "Download complete" and layer in totals:
                current[layer] = totals[layer]
            if on_progress:
                on_progress(ref.familiar, sum(current.values()), sum(totals.values()))
            deadline.check(doing)
    except requests.exceptions.ConnectionError as exc:
        if deadline.expired:
            raise deadline.timed_out(doing) from exc
        raise
    finally:
        close = getattr(stream, "close", None)
        if close:
            close()
    return sum(current.values())
