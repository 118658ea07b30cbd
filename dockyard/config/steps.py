"""Step policies of deploy.yaml: timeout, retries and retry delay per step, and the lock's."""

from __future__ import annotations

from pydantic import Field

from dockyard.config.fields import Duration, Model, PositiveDuration

STEP_NAMES = (
    "connect", "lock", "verify", "sync", "env", "disk", "pull",
    "jobs", "up", "restarts", "health", "record", "cleanup",
)  # fmt: skip


class StepPolicy(Model):
    """Timeout, retries and retry delay for a step."""

    timeout: PositiveDuration = 600.0
    retries: int = Field(2, ge=0, le=20)
    retry_delay: Duration = 5.0


class StepOverride(Model):
    """Per-step overrides of `steps.defaults`."""

    timeout: PositiveDuration | None = None
    retries: int | None = Field(None, ge=0, le=20)
    retry_delay: Duration | None = None


class LockStep(StepOverride):
    """The host-side deploy lock: how long to wait for it and when a held lock goes stale."""

    wait: Duration = 60.0
    expiry: PositiveDuration = 3600.0


class StepsConfig(Model):
    """Step policies: `defaults` for all, overridable per step name."""

    defaults: StepPolicy = StepPolicy()
    connect: StepOverride = StepOverride()
    lock: LockStep = LockStep()
    verify: StepOverride = StepOverride()
    sync: StepOverride = StepOverride()
    env: StepOverride = StepOverride()
    disk: StepOverride = StepOverride()
    pull: StepOverride = StepOverride()
    jobs: StepOverride = StepOverride()
    up: StepOverride = StepOverride()
    restarts: StepOverride = StepOverride()
    health: StepOverride = StepOverride()
    record: StepOverride = StepOverride()
    cleanup: StepOverride = StepOverride()

    def policy(self, step: str) -> StepPolicy:
        """The effective policy of `step` (one of STEP_NAMES)."""
        if step not in STEP_NAMES:
            raise KeyError(step)
        override = getattr(self, step)
        merged = {k: getattr(override, k) for k in StepPolicy.model_fields}
        return self.defaults.model_copy(update={k: v for k, v in merged.items() if v is not None})
