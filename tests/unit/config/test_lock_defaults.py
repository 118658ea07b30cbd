"""steps.lock defaults: the model, the docs table and README agree; wait must outlast expiry."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dockyard.config import LockStep
from dockyard.config.fields import FieldProblem
from dockyard.host.lease import RENEWALS_PER_EXPIRY

REPO = Path(__file__).resolve().parents[3]


def _docs_default(key: str) -> float:
    """The default column of `steps.lock`'s table in docs/deploy-yaml.md."""
    text = (REPO / "docs" / "deploy-yaml.md").read_text()
    table = text.split("`steps.lock` also takes:", 1)[1]
    match = re.search(rf"^\| `{key}` \| [^|]+ \| `([0-9.]+)` \|", table, re.MULTILINE)
    assert match, f"no row for {key} in the steps.lock table"
    return float(match.group(1))


def test_the_docs_table_states_the_models_defaults() -> None:
    model = LockStep()
    assert _docs_default("wait") == model.wait
    assert _docs_default("expiry") == model.expiry


def test_the_default_wait_outlasts_the_default_expiry_and_renewals_are_frequent() -> None:
    model = LockStep()
    assert model.wait > model.expiry
    assert model.expiry / RENEWALS_PER_EXPIRY <= 5


def test_the_readme_states_the_defaults() -> None:
    readme = (REPO / "README.md").read_text()
    model = LockStep()
    assert f"`steps.lock.expiry`, default {model.expiry:g} s" in readme
    assert f"`steps.lock.wait`, default\n   {model.wait:g} s" in readme
    assert f"renewed every expiry/{RENEWALS_PER_EXPIRY}" in readme


@pytest.mark.parametrize(("wait", "expiry"), [(30, 30), (60, 120), (1, 2)])
def test_a_wait_not_above_the_expiry_is_refused(wait: float, expiry: float) -> None:
    with pytest.raises(ValueError, match=r"not above steps\.lock\.expiry") as info:
        LockStep(wait=wait, expiry=expiry)
    cause = info.value.errors()[0]["ctx"]["error"]  # type: ignore[attr-defined]
    assert isinstance(cause, FieldProblem) and "or 0 to fail at once" in cause.fix


@pytest.mark.parametrize(("wait", "expiry"), [(0, 30), (31, 30), (180, 120)])
def test_wait_zero_or_above_the_expiry_is_accepted(wait: float, expiry: float) -> None:
    assert LockStep(wait=wait, expiry=expiry).wait == wait
