"""The one list of steps and the policies generated from it: names, report names, renames."""

from __future__ import annotations

import pytest

from dockyard.config import LockStep, StepOverride, StepsConfig
from dockyard.steps import STEP_NAMES, STEPS, step_of


def test_every_step_has_exactly_one_policy_key_of_its_name() -> None:
    config = StepsConfig()
    fields = {f.alias or name for name, f in StepsConfig.model_fields.items()} - {"defaults"}
    assert fields == set(STEP_NAMES)
    assert len(STEP_NAMES) == len(set(STEP_NAMES))
    for name in STEP_NAMES:
        assert config.policy(name).timeout == 600.0
    assert isinstance(config.lock, LockStep)
    assert isinstance(config.stop_first, StepOverride)


def test_report_names_map_to_their_step() -> None:
    assert step_of("pull 127.0.0.1:5000/app:v2").name == "pull"
    assert step_of("job migrate").name == "job"
    assert step_of("health after rollback").name == "health"
    with pytest.raises(KeyError):
        step_of("deploy")


def test_overrides_merge_over_defaults_by_step_name() -> None:
    steps = StepsConfig.model_validate(
        {"defaults": {"retries": 1}, "stop-first": {"timeout": 30}, "pull": {"retries": 4}}
    )
    assert steps.policy("stop-first").timeout == 30 and steps.policy("stop-first").retries == 1
    assert steps.policy("pull my/image:1").retries == 4
    assert steps.deprecations == ()


def test_renamed_keys_still_work_and_say_the_new_name() -> None:
    steps = StepsConfig.model_validate({"connect": {"timeout": 20}, "jobs": {"retry_delay": 9}})
    assert steps.policy("preflight").timeout == 20
    assert steps.policy("job migrate").retry_delay == 9
    assert steps.deprecations == (
        "steps.connect is deprecated: rename it to steps.preflight",
        "steps.jobs is deprecated: rename it to steps.job",
    )


def test_old_and_new_key_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"steps.connect and steps.preflight are both set"):
        StepsConfig.model_validate({"connect": {}, "preflight": {}})


def test_cached_steps_are_the_ones_a_rerun_skips() -> None:
    cached = {s.name for s in STEPS if s.cached}
    assert cached == {
        "verify", "sync", "env", "pull", "job", "stop-first", "replace", "up", "restarts",
    }  # fmt: skip
