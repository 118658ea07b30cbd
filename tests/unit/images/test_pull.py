"""The engine pull's events and errors, and the bytes a pull fetched from the engine's view."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dockyard.deadline import Deadline
from dockyard.errors import StepTimeout
from dockyard.images.credentials import RegistryLogins
from dockyard.images.errors import PullFailed, RegistryError, pull_failed
from dockyard.images.layers import (
    Blob,
    EngineLayers,
    ImageManifest,
    LayerLedger,
    new_blobs,
)
from dockyard.images.pull import engine_pull
from dockyard.images.ref import ImageRef
from tests.unit.test_deadline import Clock

REF = ImageRef.parse("127.0.0.1:5000/app:v1")
IMAGE = "sha256:" + "9" * 64


def diff(n: int) -> str:
    return f"sha256:{n:064d}"


MANIFEST = ImageManifest(
    Blob("sha256:" + "c" * 64, 500),
    (Blob("sha256:" + "1" * 64, 1000), Blob("sha256:" + "2" * 64, 200)),
)


class Stream:
    """A pull stream that advances a clock per event and records whether it was closed."""

    def __init__(self, events: list[dict[str, object]], clock: Clock, step: float) -> None:
        self.events, self.clock, self.step, self.closed = events, clock, step, False

    def __iter__(self) -> Iterator[dict[str, object]]:
        for event in self.events:
            self.clock.now += self.step
            yield event

    def close(self) -> None:
        self.closed = True


class Api:
    def __init__(self, stream: Stream) -> None:
        self.stream = stream

    def pull(self, name: str, **kwargs: object) -> Stream:
        return self.stream


class Client:
    def __init__(self, stream: Stream) -> None:
        self.api = Api(stream)


def pull(events: list[dict[str, object]], step: float = 0.0, timeout: float = 60) -> int:
    clock = Clock()
    stream = Stream(events, clock, step)
    try:
        return engine_pull(
            Client(stream),  # type: ignore[arg-type]
            REF,
            deadline=Deadline("pull", timeout, clock=clock),
            logins=RegistryLogins(),
        )
    finally:
        assert stream.closed


def test_progress_bytes_of_the_layers_the_api_pull_downloaded() -> None:
    events: list[dict[str, object]] = [
        {"status": "Downloading", "id": "a", "progressDetail": {"current": 10, "total": 100}},
        {"status": "Download complete", "id": "a"},
        {"status": "Already exists", "id": "b"},
    ]
    assert pull(events) == 100


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        ("manifest unknown: manifest unknown", False),
        ("unauthorized: authentication required", False),
        ("received unexpected HTTP status: 503 Service Unavailable", True),
        ("read: connection reset by peer", True),
    ],
)
def test_an_error_event_is_pull_failed_whose_transient_says_if_a_retry_helps(
    message: str, transient: bool
) -> None:
    with pytest.raises(PullFailed) as caught:
        pull([{"error": message}])
    assert caught.value.transient is transient
    assert "127.0.0.1:5000/app:v1" in str(caught.value)
    assert pull_failed("x", message).transient is transient


def test_a_pull_past_the_steps_deadline_is_step_timeout() -> None:
    events: list[dict[str, object]] = [{"status": "Waiting", "id": str(i)} for i in range(10)]
    with pytest.raises(StepTimeout, match="step pull ran past its 3 s timeout") as caught:
        pull(events, step=1.0, timeout=3)
    assert "pulling 127.0.0.1:5000/app:v1" in str(caught.value)


def test_engine_layers_parse_ids_and_diff_ids() -> None:
    found = EngineLayers.parse(f"{IMAGE} {diff(1)} {diff(2)}\n\nsha256:{'8' * 64}\n")
    assert found.image_ids == {IMAGE, "sha256:" + "8" * 64}
    assert found.diff_ids == {diff(1), diff(2)}


def test_new_blobs_count_the_config_and_the_layers_the_engine_lacked() -> None:
    cold = EngineLayers(frozenset(), frozenset())
    assert new_blobs(MANIFEST, IMAGE, [diff(1), diff(2)], cold) == {
        IMAGE: 500,
        diff(1): 1000,
        diff(2): 200,
    }
    warm = EngineLayers(frozenset(), frozenset({diff(1)}))
    assert new_blobs(MANIFEST, IMAGE, [diff(1), diff(2)], warm) == {IMAGE: 500, diff(2): 200}
    had = EngineLayers(frozenset({IMAGE}), frozenset({diff(1), diff(2)}))
    assert new_blobs(MANIFEST, IMAGE, [diff(1), diff(2)], had) == {}


def test_new_blobs_refuse_a_manifest_that_does_not_match_the_engine() -> None:
    with pytest.raises(RegistryError, match="engine shows 1 layers, the registry's manifest 2"):
        new_blobs(MANIFEST, IMAGE, [diff(1)], EngineLayers(frozenset(), frozenset()))


def test_ledger_counts_a_layer_shared_by_concurrent_pulls_once() -> None:
    clock = Clock()
    ledger = LayerLedger(clock)
    cold = EngineLayers(frozenset(), frozenset())
    assert ledger.before("vm", "a", lambda: cold) is cold
    assert ledger.before("vm", "b", lambda: cold) is cold
    clock.now += 1
    assert ledger.settle("vm", "a", {diff(0): 50, diff(1): 10}) == {diff(0): 50, diff(1): 10}
    clock.now += 1
    assert ledger.settle("vm", "b", {diff(0): 50, diff(2): 20}) == {diff(2): 20}
    assert ledger.before("vm2", "c", lambda: cold) is cold
    assert ledger.settle("vm2", "c", {diff(0): 50}) == {diff(0): 50}


def test_ledger_keeps_a_failed_pulls_snapshot_for_its_retry_then_forgets_it() -> None:
    clock = Clock()
    ledger = LayerLedger(clock)
    first = EngineLayers(frozenset(), frozenset())
    later = EngineLayers(frozenset(), frozenset({diff(1)}))
    assert ledger.before("vm", "a", lambda: first) is first
    clock.now += 5
    assert ledger.before("vm", "a", lambda: later) is first
    assert ledger.settle("vm", "a", {diff(1): 10}) == {diff(1): 10}
    assert ledger.before("vm", "a", lambda: later) is later


def test_ledger_counts_again_a_layer_pulled_after_an_earlier_pull_ended() -> None:
    clock = Clock()
    ledger = LayerLedger(clock)
    cold = EngineLayers(frozenset(), frozenset())
    ledger.before("vm", "a", lambda: cold)
    assert ledger.settle("vm", "a", {diff(1): 10}) == {diff(1): 10}
    clock.now += 10
    ledger.before("vm", "a", lambda: cold)
    assert ledger.settle("vm", "a", {diff(1): 10}) == {diff(1): 10}
