"""One deadline per step: every I/O call inside a step gets the time the step has left."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dockyard.errors import StepTimeout

Clock = Callable[[], float]


@dataclass
class Deadline:
    """The end of a step's `timeout`, on the monotonic clock.

    `left(cap)` is what an I/O call may use (never more than `cap` when given); `check()` raises
    StepTimeout once the step's time is spent. A Deadline is made where the step starts and is
    passed down, so the sum of a step's calls is bounded, not each call alone."""

    step: str
    timeout: float
    clock: Clock = field(default=time.monotonic, repr=False)
    ends: float = field(init=False)

    def __post_init__(self) -> None:
        self.ends = self.clock() + self.timeout

    def left(self, cap: float | None = None) -> float:
        """Seconds left (0 when spent), at most `cap`."""
        remaining = max(0.0, self.ends - self.clock())
        return remaining if cap is None else min(cap, remaining)

    @property
    def expired(self) -> bool:
        return self.clock() >= self.ends

    def check(self, doing: str = "") -> None:
        """Raise StepTimeout if the step's time is spent."""
        if self.expired:
            raise self.timed_out(doing)

    def timed_out(self, doing: str = "") -> StepTimeout:
        return StepTimeout(self.step, self.timeout, doing)
