"""Step policies of deploy.yaml, generated from the one list of steps (dockyard/steps.py):
a policy key per step name, `defaults` for all, and the lease's wait and expiry."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PrivateAttr, create_model, model_validator

from dockyard.config.fields import Duration, FieldProblem, Int, Model, PositiveDuration
from dockyard.steps import RENAMED, STEPS, step_of


class StepPolicy(Model):
    """Timeout, retries and retry delay of a step. The timeout bounds the whole step (each try):
    every command, transfer and request inside it gets the time left."""

    timeout: PositiveDuration = 600.0
    retries: Int = Field(2, ge=0, le=20)
    retry_delay: Duration = 5.0


class StepOverride(Model):
    """Per-step overrides of `steps.defaults`."""

    timeout: PositiveDuration | None = None
    retries: Int | None = Field(None, ge=0, le=20)
    retry_delay: Duration | None = None


LOCK_WAIT = 90.0
LOCK_EXPIRY = 30.0


class LockStep(StepOverride):
    """The host lease: how long to wait for another deploy's, and how long one lasts unrenewed.

    `wait` must outlast `expiry` (or be 0: fail at once), so a rerun after a dead deployer
    waits its lease out instead of failing with LockHeld."""

    wait: Duration = LOCK_WAIT
    expiry: PositiveDuration = LOCK_EXPIRY

    @model_validator(mode="after")
    def _wait_outlasts_expiry(self) -> LockStep:
        if 0 < self.wait <= self.expiry:
            raise FieldProblem(
                f"steps.lock.wait ({self.wait:g} s) is not above steps.lock.expiry"
                f" ({self.expiry:g} s): a rerun after a dead deployer would give up before"
                " its lease lapses",
                f"set wait above {self.expiry:g} s (e.g. {self.expiry * 3:g}s), or 0 to fail"
                " at once",
                ("wait",),
            )
        return self


class _StepsBase(Model):
    """Step policies: `defaults` for all, overridable per step name (STEPS)."""

    _deprecated: tuple[str, ...] = PrivateAttr(())

    @model_validator(mode="wrap")
    @classmethod
    def _renamed_keys(cls, data: Any, handler: Any) -> Any:
        notes = []
        if isinstance(data, dict):
            data = dict(data)
            for old, new in RENAMED.items():
                if old in data:
                    if new in data:
                        raise FieldProblem(
                            f"steps.{old} and steps.{new} are both set", f"keep steps.{new}", (old,)
                        )
                    data[new] = data.pop(old)
                    notes.append(f"steps.{old} is deprecated: rename it to steps.{new}")
        model = handler(data)
        model._deprecated = tuple(notes)
        return model

    @property
    def deprecations(self) -> tuple[str, ...]:
        """Messages for renamed keys this config still uses."""
        return self._deprecated

    def policy(self, step: str) -> StepPolicy:
        """The effective policy of a step (a name in STEPS, or a report name like `pull X`)."""
        override = getattr(self, _field(step_of(step).name))
        merged = {k: getattr(override, k) for k in StepPolicy.model_fields}
        defaults: StepPolicy = self.defaults  # type: ignore[attr-defined]
        return defaults.model_copy(update={k: v for k, v in merged.items() if v is not None})


def _field(name: str) -> str:
    return name.replace("-", "_")


def _override(name: str) -> tuple[type[StepOverride], Any]:
    kind = LockStep if name == "lock" else StepOverride
    return kind, Field(default_factory=kind, alias=name)


StepsConfig = create_model(  # type: ignore[call-overload]
    "StepsConfig",
    __base__=_StepsBase,
    defaults=(StepPolicy, StepPolicy()),
    **{_field(s.name): _override(s.name) for s in STEPS},
)
