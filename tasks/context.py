"""The context of the step task running now: its Deadline and its HostStack, each set once per
task call by tasks/policy.py (the HostStack is a dict lookup in the loaded config)."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from dockyard.deadline import Deadline
from dockyard.session import HostStack

_deadline: contextvars.ContextVar[Deadline] = contextvars.ContextVar("dockyard_step_deadline")
_stack: contextvars.ContextVar[HostStack] = contextvars.ContextVar("dockyard_step_stack")


def current_deadline() -> Deadline:
    """The Deadline of the step task running in this context."""
    return _deadline.get()


def current_stack() -> HostStack:
    """The host and stack the step task running in this context works on."""
    return _stack.get()


@contextmanager
def running(hs: HostStack, deadline: Deadline) -> Iterator[None]:
    """The context of one step task call: `hs` under `deadline`."""
    tokens = _stack.set(hs), _deadline.set(deadline)
    try:
        yield
    finally:
        _stack.reset(tokens[0])
        _deadline.reset(tokens[1])
