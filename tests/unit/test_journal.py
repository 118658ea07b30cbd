"""The attempt journal: JSON entries per finished step, atomic on the host (real sh)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard import journal
from dockyard.commands.hoststate import HostState
from dockyard.images.pull import PullResult
from dockyard.masking import Masker
from tests.unit.shhost import ShHost

PULLED = PullResult("127.0.0.1:5000/app:v3", 10_485_760, 2, 3, 4.5)


@pytest.fixture
def state(tmp_path: Path) -> HostState:
    return HostState(str(tmp_path / "shop"))


def test_results_round_trip_as_json() -> None:
    for value in (None, "out", ["a", "b"], PULLED, [PULLED], {"k": PULLED}):
        assert journal.decode(journal.encode(value)) == value


def test_an_unregistered_object_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be kept"):
        journal.encode(object())


def test_a_step_is_unknown_until_recorded_then_comes_back_with_its_result(
    state: HostState,
) -> None:
    host = ShHost()
    assert journal.lookup(host, state, "a1", "pull app:v3") is None
    journal.record(host, state, "a1", "pull app:v3", PULLED, Masker())
    entry = journal.lookup(host, state, "a1", "pull app:v3")
    assert entry is not None and entry.result == PULLED and entry.step == "pull app:v3"
    assert journal.lookup(host, state, "a2", "pull app:v3") is None  # another attempt
    assert journal.lookup(host, state, "a1", "pull app:v4") is None
    assert not list(Path(state.journal("a1")).glob("*.tmp.*"))


def test_secrets_never_reach_the_host_file(state: HostState) -> None:
    journal.record(ShHost(), state, "a1", "job migrate", "password=pw-123 ok", Masker(["pw-123"]))
    text = Path(state.journal_entry("a1", "job migrate")).read_text()
    assert "pw-123" not in text and "password=***" in text


def test_an_unreadable_entry_names_the_file_and_the_fix(state: HostState) -> None:
    path = Path(state.journal_entry("a1", "up"))
    path.parent.mkdir(parents=True)
    path.write_text('{"step": "up", "fin')
    with pytest.raises(journal.JournalError, match="remove it"):
        journal.lookup(ShHost(), state, "a1", "up")
