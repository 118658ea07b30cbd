"""What every step task returns: its (masked) value and the try that produced it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Outcome:
    """A step's (masked) value and the try that produced it (0: it came from a cache)."""

    value: Any
    attempts: int
