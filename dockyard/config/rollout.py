"""The `rollout` section: canary, batch size, failure limit, pause, host parallelism (pure)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BeforeValidator, Field

from dockyard.config.fields import Duration, FieldProblem, Int, Model

_PERCENT = re.compile(r"(\d{1,3})%")
ALL = "100%"


def _count_or_percent(what: str, minimum: int) -> BeforeValidator:
    """Accept a whole number >= minimum or a string `N%` (0 < N <= 100), kept as given."""
    fix = f'write a whole number (at least {minimum}) or a percentage of the hosts, e.g. "25%"'

    def check(value: object) -> int | str:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < minimum:
                raise FieldProblem(f"{what} {value} is below {minimum}", fix)
            return value
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return check(int(text))
            match = _PERCENT.fullmatch(text)
            if match and 0 < int(match.group(1)) <= 100:
                return f"{int(match.group(1))}%"
        raise FieldProblem(f"bad {what} {value!r}", fix)

    return BeforeValidator(check)


BatchSize = Annotated[int | str, _count_or_percent("batch", 1)]
FailureLimit = Annotated[int | str, _count_or_percent("max_failed", 0)]


class RolloutConfig(Model):
    """How the hosts roll: `canary` hosts first (a failed canary stops the rollout), then
    batches of `batch` hosts; the rollout stops once more than `max_failed` hosts failed;
    `pause` between batches; at most `parallel` hosts deploy at once. The defaults are one
    batch of every host, no canary and no stop."""

    canary: Int = Field(0, ge=0)
    batch: BatchSize = ALL
    max_failed: FailureLimit = ALL
    pause: Duration = 0.0
    parallel: Int = Field(4, ge=1, le=64)
