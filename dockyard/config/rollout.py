"""The `rollout` section: canary, batch size, failure limit, pause, host parallelism, approval
(pure)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from dockyard.config.fields import Duration, FieldProblem, Int, Model, PositiveDuration

_PERCENT = re.compile(r"(\d{1,3})%")
ALL = "100%"
APPROVE_TIMEOUT = 3600.0


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
    `pause` between batches; at most `parallel` hosts deploy at once; `approve` waits for a
    person (in the Prefect UI or `dockyard approve`) after the canary or before each batch
    after the first, at most `approve_timeout` (then the rollout stops as rejected). The
    defaults are one batch of every host, no canary, no stop and no approval."""

    canary: Int = Field(0, ge=0)
    batch: BatchSize = ALL
    max_failed: FailureLimit = ALL
    pause: Duration = 0.0
    parallel: Int = Field(4, ge=1, le=64)
    approve: Literal["after_canary", "before_each_batch", "never"] = "never"
    approve_timeout: PositiveDuration = APPROVE_TIMEOUT

    @model_validator(mode="after")
    def _check(self) -> RolloutConfig:
        if self.approve == "after_canary" and not self.canary:
            raise FieldProblem(
                "approve: after_canary needs a canary, and canary is 0",
                "set canary: 1 (or more), or approve: before_each_batch",
                ("approve",),
            )
        return self
