"""The attempt journal: JSON entries per finished step, atomic on the host (real sh)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.commands.hoststate.paths import HostState
from dockyard.deadline import Deadline
from dockyard.host import journal
from dockyard.images.pull import PullResult
from dockyard.masking import Masker
from tests.unit.shhost import ShHost

PULLED = PullResult("127.0.0.1:5000/app:v3", 10_485_760, 2, 3, 4.5)
TYPES = {"PullResult": PullResult}


def deadline() -> Deadline:
    return Deadline("journal", 30.0)


@pytest.fixture
def state(tmp_path: Path) -> HostState:
    return HostState(str(tmp_path / "shop"))


def test_results_round_trip_as_json() -> None:
    for value in (None, "out", ["a", "b"], PULLED, [PULLED], {"k": PULLED}):
        assert journal.decode(journal.encode(value, TYPES), TYPES) == value


def test_an_unregistered_object_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be kept"):
        journal.encode(object(), TYPES)


def test_a_step_is_unknown_until_recorded_then_comes_back_with_its_result(
    state: HostState,
) -> None:
    host = ShHost()
    assert journal.read_attempt(host, state, "a1", deadline(), TYPES) == {}
    journal.record(host, state, "a1", "pull app:v3", PULLED, Masker(), deadline(), TYPES)
    journal.record(host, state, "a1", "up", None, Masker(), deadline(), TYPES)
    entries = journal.read_attempt(host, state, "a1", deadline(), TYPES)
    assert sorted(entries) == ["pull_app_v3", "up"]
    assert entries["pull_app_v3"].result == PULLED and entries["pull_app_v3"].step == "pull app:v3"
    assert journal.read_attempt(host, state, "a2", deadline(), TYPES) == {}  # another attempt
    assert not list(Path(state.journal("a1")).glob("*.tmp.*"))


def test_secrets_never_reach_the_host_file(state: HostState) -> None:
    journal.record(
        ShHost(),
        state,
        "a1",
        "job migrate",
        "password=pw-123 ok",
        Masker(["pw-123"]),
        deadline(),
        TYPES,
    )
    text = Path(state.journal_entry("a1", "job migrate")).read_text()
    assert "pw-123" not in text and "password=***" in text


def test_an_unreadable_entry_names_the_file_and_the_fix(state: HostState) -> None:
    path = Path(state.journal_entry("a1", "up"))
    path.parent.mkdir(parents=True)
    path.write_text('{"step": "up", "fin')
    with pytest.raises(journal.JournalError, match=r"up\.json is unreadable .*remove it"):
        journal.Journals(TYPES).lookup("s", ShHost(), state, "a1", "up", deadline())


def test_an_attempt_is_read_once_and_every_record_still_reaches_the_host(
    state: HostState,
) -> None:
    host, journals = ShHost(), journal.Journals(TYPES)
    journal.record(ShHost(), state, "a1", "sync", ["a.yml"], Masker(), deadline(), TYPES)
    assert journals.lookup("vm1/shop", host, state, "a1", "sync", deadline()).result == ["a.yml"]
    assert journals.lookup("vm1/shop", host, state, "a1", "env", deadline()) is None
    assert len(host.commands) == 1  # one read for both lookups
    journals.record("vm1/shop", host, state, "a1", "env", ".env", Masker(), deadline())
    assert len(host.commands) == 2  # the write went to the host
    assert journals.lookup("vm1/shop", host, state, "a1", "env", deadline()).result == ".env"
    assert len(host.commands) == 2
    assert journal.read_attempt(ShHost(), state, "a1", deadline(), TYPES)["env"].result == ".env"


def test_a_new_attempt_or_a_forgotten_scope_reads_the_host_again(state: HostState) -> None:
    host, journals = ShHost(), journal.Journals(TYPES)
    assert journals.lookup("vm1/shop", host, state, "a1", "up", deadline()) is None
    journal.record(
        ShHost(), state, "a1", "up", None, Masker(), deadline(), TYPES
    )  # another runner, meanwhile
    assert (
        journals.lookup("vm1/shop", host, state, "a1", "up", deadline()) is None
    )  # the copy read before
    assert (
        journals.lookup("vm2/shop", host, state, "a1", "up", deadline()) is not None
    )  # another scope
    journals.forget("vm1/shop")
    assert journals.lookup("vm1/shop", host, state, "a1", "up", deadline()) is not None
    assert journals.lookup("vm1/shop", host, state, "a2", "up", deadline()) is None
    assert len(host.commands) == 4
