"""The step deadline: time left, caps, and StepTimeout naming the step and its timeout."""

from __future__ import annotations

import pickle

import pytest

from dockyard.deadline import Deadline
from dockyard.errors import DockyardError, StepTimeout


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_left_counts_down_and_caps() -> None:
    clock = Clock()
    d = Deadline("up", 30, clock=clock)
    assert d.left() == 30
    assert d.left(cap=10) == 10
    clock.now += 25
    assert d.left() == 5
    assert d.left(cap=10) == 5
    clock.now += 10
    assert d.left() == 0
    assert d.expired


def test_check_raises_step_timeout_naming_step_and_timeout() -> None:
    clock = Clock()
    d = Deadline("jobs", 12, clock=clock)
    d.check()
    clock.now += 12
    with pytest.raises(StepTimeout) as info:
        d.check("job migrate")
    text = str(info.value)
    assert "step jobs" in text and "12 s" in text and "steps.jobs.timeout" in text
    assert "job migrate" in text
    assert info.value.transient


def test_errors_pickle_with_their_attributes() -> None:
    exc = StepTimeout("pull", 60, "pull app")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is StepTimeout
    assert str(back) == str(exc)
    assert back.step == "pull" and back.timeout == 60
    assert isinstance(back, DockyardError)
