"""The state guard (dockyard/commands/hoststate/guard.py, dockyard/host/guard.py): its script
run by a real `sh` on temporary directories, and the error it becomes."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockyard.commands.hoststate.guard import OK, state_check
from dockyard.commands.hoststate.paths import HostState
from dockyard.deadline import Deadline
from dockyard.host.guard import UnsafeHostState, check, describe
from tests.fakes import FakeRunner
from tests.unit.shhost import ShHost


def problems(state: HostState) -> list[str]:
    return ShHost().run(state_check(state)).stdout.splitlines()


def tmp_mode() -> str:
    return oct(stat.S_IMODE(os.stat("/tmp").st_mode))[2:]


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A directory whose own path is safe except for /tmp itself (1777 here)."""
    tmp_path.chmod(0o755)
    return tmp_path


def without_tmp(lines: list[str]) -> list[str]:
    return [line for line in lines if line != f"WRITABLE {tmp_mode()} /tmp"]


def test_a_world_writable_parent_is_named_and_nothing_is_made(base: Path) -> None:
    state = HostState(str(base / "shop"))
    assert problems(state) == [f"WRITABLE {tmp_mode()} /tmp"]
    assert not Path(state.remote_dir).exists()


def test_a_group_writable_or_foreign_remote_dir_is_named(base: Path) -> None:
    (base / "shop").mkdir()
    (base / "shop").chmod(0o775)
    os.chown(base, 12345, -1)
    state = HostState(str(base / "shop"))
    assert without_tmp(problems(state)) == [f"OWNER 12345 {base}", f"WRITABLE 775 {base}/shop"]


def test_a_parent_reached_through_a_link_is_checked_where_it_resolves(base: Path) -> None:
    real = base / "real"
    real.mkdir()
    real.chmod(0o777)
    (base / "via").symlink_to(real, target_is_directory=True)
    state = HostState(str(base / "via" / "shop"))
    assert f"WRITABLE 777 {real}" in problems(state)


def test_symlinks_at_or_under_the_state_dir_are_named(base: Path) -> None:
    state = HostState(str(base / "shop"))
    Path(state.releases_dir).mkdir(parents=True)
    os.symlink("/etc", state.release_dir("r-1"))
    os.symlink("/etc/passwd", state.attempt)
    assert sorted(without_tmp(problems(state))) == [
        f"LINK {state.attempt}", f"LINK {state.release_dir('r-1')}",
    ]  # fmt: skip
    other = HostState(str(base / "other"))
    Path(other.remote_dir).mkdir()
    os.symlink(base, other.root)
    assert without_tmp(problems(other)) == [f"LINK {other.root}"]


def test_a_release_dirs_data_links_pass_other_links_there_do_not(base: Path) -> None:
    state = HostState(str(base / "shop"))
    files = Path(state.release_files("r-1"))
    (files / "db").mkdir(parents=True)
    (files / "out").symlink_to(f"{state.remote_dir}/out")
    (files / "db" / "data").symlink_to(f"{state.remote_dir}/db/data")
    (files / "etc").symlink_to("/etc")
    (files / "db" / "x").symlink_to(f"{state.remote_dir}/y")
    Path(state.release_dir("r-2")).mkdir()
    Path(state.release_dir("r-2"), "out").symlink_to(f"{state.remote_dir}/out")
    assert sorted(without_tmp(problems(state))) == [
        f"LINK {files}/db/x", f"LINK {files}/etc", f"LINK {state.release_dir('r-2')}/out",
    ]  # fmt: skip


def test_a_safe_place_gets_its_state_dir_0700(tmp_path: Path) -> None:
    """Under the user's home (not /tmp, wherever the checkout is) the path is safe: the check
    answers OK and makes .dockyard/ 0700 (an existing one too)."""
    place = Path.home() / ".dockyard-pytest-guard"
    if os.stat(place.parent).st_mode & 0o022:
        pytest.fail(
            f"{place.parent} is group/world-writable: run the suite as a user with a safe home"
        )
    state = HostState(str(place / tmp_path.name))
    Path(state.root).mkdir(parents=True, mode=0o755)
    try:
        assert problems(state) == [OK]
        assert stat.S_IMODE(os.stat(state.root).st_mode) == 0o700
    finally:
        for d in (state.root, state.remote_dir, str(place)):
            os.rmdir(d)


def test_each_problem_names_its_fix() -> None:
    assert "fix: chmod go-w /srv" in describe("WRITABLE 775 /srv")
    assert "owned by uid 1000" in describe("OWNER 1000 /srv/shop")
    assert "chown root /srv/shop" in describe("OWNER 1000 /srv/shop")
    assert "rm /srv/shop/.dockyard/attempt" in describe("LINK /srv/shop/.dockyard/attempt")


def test_check_raises_with_every_problem_and_passes_on_ok() -> None:
    state = HostState("/srv/shop")
    deadline = Deadline("lock", 10)
    check(FakeRunner().on("chk", f"{OK}\n"), state, "vm1", deadline)
    bad = FakeRunner().on("chk", "WRITABLE 777 /srv\nLINK /srv/shop/.dockyard/current\n")
    with pytest.raises(UnsafeHostState, match=r"^vm1: /srv/shop is not safe.*chmod go-w /srv.*"
                       r"rm /srv/shop/.dockyard/current"):  # fmt: skip
        check(bad, state, "vm1", deadline)
    with pytest.raises(UnsafeHostState, match="no answer"):
        check(FakeRunner(), state, "vm1", deadline)
