"""The attempt scripts of dockyard/commands/hoststate/journal.py run by a real `sh`: the token
read back from .dockyard/attempt is input (hex only), and journal paths take only hex."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.commands.hoststate.journal import MALFORMED, attempt_close, attempt_open
from dockyard.commands.hoststate.paths import HostState
from tests.unit.shhost import ShHost

FRESH = "r-1 open " + "ab" * 16


@pytest.fixture
def state(tmp_path: Path) -> HostState:
    return HostState(str(tmp_path / "shop"))


def opened(state: HostState) -> list[str]:
    return ShHost().run(attempt_open(state, "r-1", FRESH)).stdout.splitlines()


def test_an_open_attempt_is_resumed_and_others_journals_dropped(state: HostState) -> None:
    assert opened(state) == [FRESH]
    Path(state.journal("ab" * 16)).mkdir(parents=True)
    Path(state.journal("01d")).mkdir(parents=True)
    assert opened(state) == [FRESH]
    ShHost().run(attempt_close(state, "r-1", "succeeded"))
    assert opened(state) == [FRESH]
    assert [p.name for p in Path(state.journal_dir).iterdir()] == ["ab" * 16]


@pytest.mark.parametrize("token", ["../../tmp/x", "", "ABC", "a b", "a" * 65, "aa\nbb"])
def test_a_token_that_is_not_hex_is_ignored_and_a_new_attempt_opened(
    state: HostState, tmp_path: Path, token: str
) -> None:
    Path(state.root).mkdir(parents=True)
    Path(state.attempt).write_text(f"r-1 open {token}\n")
    planted = tmp_path / "tmp" / "x"
    planted.mkdir(parents=True)
    assert opened(state) == [MALFORMED, FRESH]
    assert Path(state.attempt).read_text() == FRESH + "\n"
    assert planted.is_dir()


def test_the_attempt_file_is_replaced_never_written_through_a_link(
    state: HostState, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    Path(state.root).mkdir(parents=True)
    for pid in range(2, 300):
        Path(f"{state.attempt}.tmp.{pid}").symlink_to(victim)
    Path(state.attempt).symlink_to(victim)
    assert opened(state) == [FRESH]
    assert victim.read_text() == "untouched" and not Path(state.attempt).is_symlink()


def test_paths_take_only_hex_attempt_tokens() -> None:
    state = HostState("/srv/shop")
    assert state.journal("ab12").endswith("/journal/ab12")
    for bad in ("../../tmp/x", "", "g1", "a/b"):
        for build in (lambda a: state.journal(a), lambda a: state.journal_entry(a, "up"),
                      lambda a: state.job_dir(a, "migrate")):  # fmt: skip
            with pytest.raises(ValueError, match="not hex"):
                build(bad)
    with pytest.raises(ValueError, match="not hex"):
        attempt_open(state, "r-1", "r-1 open ../x")
