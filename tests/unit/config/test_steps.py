"""The `steps` section: durations and the policy of every step name."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config import parse_duration
from dockyard.steps import STEP_NAMES
from tests.unit.configkit import (
    full_config,
    load,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(90, 90.0), ("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("1h", 3600.0),
     ("1m30s", 90.0), ("1h2m3s", 3723.0), ("500ms", 0.5), ("1.5s", 1.5), (0, 0.0)],
)  # fmt: skip
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 minutes", "m5", "1s1m", "-3", "", True, None, "1e3"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="bad duration"):
        parse_duration(text)


def test_step_policy_names(project: Path) -> None:
    steps = load(project, full_config()).steps
    assert {name: steps.policy(name).timeout for name in STEP_NAMES}["pull"] == 3600.0
    with pytest.raises(KeyError):
        steps.policy("deploy")
