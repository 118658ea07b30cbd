"""The release switch scripts of dockyard/commands/hoststate/release.py: as strings, and run by a
real `sh` on a temporary directory laid out like a stack's remote_dir."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dockyard.commands.hoststate.paths import HostState
from dockyard.commands.hoststate.release import (
    BLOCKED,
    UNSAFE,
    checked,
    drop_unlisted,
    history_append,
    install_manifest,
    link_outside,
    manifest_problem,
    pending_changes,
    prune_releases,
    seed_release,
    switch_release,
)


def sh(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)


def stage(state: HostState, release: str, files: dict[str, str], mode: int = 0o644) -> None:
    """Lay out a staged release as bundle.sync + write_env would."""
    root = Path(state.release_files(release))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
        (root / rel).chmod(0o600 if rel == ".env" else mode)
    Path(state.release_manifest(release)).write_text("".join(f"{r}\n" for r in sorted(files)))


def switch(state: HostState, release: str) -> None:
    done = sh(switch_release(state, release))
    assert done.returncode == 0, done.stderr


@pytest.fixture()
def state(tmp_path: Path) -> HostState:
    return HostState(str(tmp_path / "my stack"))


V1 = {"docker-compose.yml": "v1", "proxy/nginx.conf": "conf1", "old.yml": "x", ".env": "A='1'\n"}
V2 = {"docker-compose.yml": "v2", "proxy/nginx.conf": "conf1", ".env": "A='2'\n"}


class TestStrings:
    def test_release_ids_are_one_safe_word(self) -> None:
        assert checked("r-0123abcd") == "r-0123abcd"
        for bad in ("", "../x", "a b", "r;rm -rf /", "-r", "a/b"):
            with pytest.raises(ValueError):
                checked(bad)

    def test_paths_are_quoted(self, state: HostState) -> None:
        script = switch_release(state, "r-1")
        assert f"'{state.release_manifest('r-1')}'" in script
        assert "'" + state.remote_dir + "'" in script

    def test_unsafe_release_ids_are_refused_by_every_builder(self, state: HostState) -> None:
        for build in (switch_release, pending_changes, drop_unlisted):
            with pytest.raises(ValueError):
                build(state, "r-1; reboot")
        with pytest.raises(ValueError):
            install_manifest(state, "r-1; reboot", 0)
        with pytest.raises(ValueError):
            seed_release(state, "r-2", "$(reboot)")
        with pytest.raises(ValueError):
            prune_releases(state, ["r-1", "x y"])


class TestSeed:
    def test_a_new_release_starts_as_a_copy_of_the_current_one(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        assert sh(seed_release(state, "r-2", "r-1")).returncode == 0
        copied = Path(state.release_files("r-2"))
        assert (copied / "proxy/nginx.conf").read_text() == "conf1"
        assert oct((copied / ".env").stat().st_mode & 0o777) == "0o600"

    def test_an_existing_release_dir_is_left_alone(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        stage(state, "r-2", V2)
        assert sh(seed_release(state, "r-2", "r-1")).returncode == 0
        assert not (Path(state.release_files("r-2")) / "old.yml").exists()

    def test_without_a_current_release_or_its_files_it_starts_empty(self, state: HostState) -> None:
        assert sh(seed_release(state, "r-2", None)).returncode == 0
        assert sh(seed_release(state, "r-3", "r-gone")).returncode == 0
        assert os.listdir(state.release_files("r-2")) == []
        assert os.listdir(state.release_files("r-3")) == []

    def test_a_half_made_copy_is_redone(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        partial = Path(state.release_files("r-2") + ".partial")
        partial.mkdir(parents=True)
        (partial / "junk").write_text("from a killed run")
        assert sh(seed_release(state, "r-2", "r-1")).returncode == 0
        assert not partial.exists()
        assert not (Path(state.release_files("r-2")) / "junk").exists()


def test_drop_unlisted_removes_what_the_manifest_does_not_name(state: HostState) -> None:
    stage(state, "r-2", V2)
    files = Path(state.release_files("r-2"))
    (files / "old.yml").write_text("seeded from r-1")
    (files / ".dockyard-stage-1a2b").mkdir()
    (files / ".dockyard-stage-1a2b" / "0").write_text("killed upload")
    assert sh(drop_unlisted(state, "r-2")).returncode == 0
    left = sorted(p.relative_to(files).as_posix() for p in files.rglob("*") if p.is_file())
    assert left == sorted(V2)


def test_install_manifest_writes_it_then_drops_what_it_does_not_name(state: HostState) -> None:
    stage(state, "r-2", {**V2, "old.yml": "seeded from r-1"})
    listing = "".join(f"{rel}\n" for rel in sorted(V2))
    done = subprocess.run(["sh", "-c", install_manifest(state, "r-2", len(listing))], input=listing,
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    manifest = Path(state.release_manifest("r-2"))
    assert manifest.read_text() == listing and manifest.stat().st_mode & 0o777 == 0o644
    files = Path(state.release_files("r-2"))
    assert sorted(p.relative_to(files).as_posix() for p in files.rglob("*")
                  if p.is_file()) == sorted(V2)  # fmt: skip
    assert sorted(os.listdir(manifest.parent)) == ["files", "manifest"]


class TestSwitch:
    def test_first_switch_writes_the_release_and_removes_nothing(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        live = Path(state.remote_dir)
        live.mkdir(parents=True, exist_ok=True)
        (live / "data.txt").write_text("not dockyard's")
        switch(state, "r-1")
        assert (live / "docker-compose.yml").read_text() == "v1"
        assert (live / "proxy/nginx.conf").read_text() == "conf1"
        assert oct((live / ".env").stat().st_mode & 0o777) == "0o600"
        assert (live / "data.txt").read_text() == "not dockyard's"
        assert Path(state.current).read_text().strip() == "r-1"

    def test_next_release_removes_only_files_the_previous_one_put_there(
        self, state: HostState
    ) -> None:
        stage(state, "r-1", V1)
        switch(state, "r-1")
        live = Path(state.remote_dir)
        (live / "uploads").mkdir()
        (live / "uploads" / "a.png").write_text("user data")
        stage(state, "r-2", V2)
        switch(state, "r-2")
        assert not (live / "old.yml").exists()
        assert (live / "uploads" / "a.png").read_text() == "user data"
        assert (live / "docker-compose.yml").read_text() == "v2"
        assert (live / ".env").read_text() == "A='2'\n"
        assert Path(state.current).read_text().strip() == "r-2"

    def test_the_switch_prints_what_pending_changes_announced(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        first = sh(pending_changes(state, "r-1")).stdout
        assert first and sh(switch_release(state, "r-1")).stdout == first
        stage(state, "r-2", V2)
        pending = sh(pending_changes(state, "r-2")).stdout
        assert sorted(pending.splitlines()) == ["+ .env", "+ docker-compose.yml", "- old.yml"]
        assert sh(switch_release(state, "r-2")).stdout == pending
        assert sh(switch_release(state, "r-2")).stdout == ""

    def test_unchanged_files_keep_their_inode_changed_ones_are_replaced(
        self, state: HostState
    ) -> None:
        stage(state, "r-1", V1)
        switch(state, "r-1")
        live = Path(state.remote_dir)
        conf, compose = (live / "proxy/nginx.conf").stat(), (live / "docker-compose.yml").stat()
        stage(state, "r-2", V2)
        switch(state, "r-2")
        assert (live / "proxy/nginx.conf").stat().st_ino == conf.st_ino
        assert (live / "docker-compose.yml").stat().st_ino != compose.st_ino

    def test_a_directory_emptied_by_the_switch_goes_one_with_user_files_stays(
        self, state: HostState
    ) -> None:
        stage(state, "r-1", {**V1, "conf/a.yml": "a", "keep/b.yml": "b"})
        switch(state, "r-1")
        live = Path(state.remote_dir)
        (live / "keep" / "user.txt").write_text("mine")
        stage(state, "r-2", V2)
        switch(state, "r-2")
        assert not (live / "conf").exists()
        assert (live / "keep" / "user.txt").exists()
        assert not (live / "keep" / "b.yml").exists()

    def test_going_back_restores_files_and_env(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        switch(state, "r-1")
        stage(state, "r-2", V2)
        switch(state, "r-2")
        switch(state, "r-1")
        live = Path(state.remote_dir)
        assert (live / "old.yml").read_text() == "x"
        assert (live / "docker-compose.yml").read_text() == "v1"
        assert (live / ".env").read_text() == "A='1'\n"

    def test_a_mode_change_alone_is_applied(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        switch(state, "r-1")
        stage(state, "r-2", V1, mode=0o755)
        switch(state, "r-2")
        mode = (Path(state.remote_dir) / "docker-compose.yml").stat().st_mode & 0o777
        assert oct(mode) == "0o755"

    def test_a_directory_where_a_file_goes_exits_blocked_and_changes_nothing(
        self, state: HostState
    ) -> None:
        stage(state, "r-1", V1)
        switch(state, "r-1")
        live = Path(state.remote_dir)
        (live / "init").mkdir()
        (live / "init" / "provision.sh").mkdir()  # what Docker leaves for a missing bind mount
        stage(state, "r-2", {**V2, "init/provision.sh": "#!/bin/sh\n"})
        before = sorted(p.relative_to(live).as_posix() for p in live.rglob("*")
                        if ".dockyard" not in p.parts)  # fmt: skip
        done = sh(switch_release(state, "r-2"))
        assert done.returncode == BLOCKED
        assert done.stderr.splitlines() == ["init/provision.sh"]
        after = sorted(p.relative_to(live).as_posix() for p in live.rglob("*")
                       if ".dockyard" not in p.parts)  # fmt: skip
        assert after == before and (live / "docker-compose.yml").read_text() == "v1"
        assert Path(state.current).read_text().strip() == "r-1"

    def test_outside_paths_link_to_the_live_dir_made_there_once(self, state: HostState) -> None:
        stage(state, "r-1", V1)
        live, files = Path(state.remote_dir), Path(state.release_files("r-1"))
        (live / "gate").mkdir(parents=True)
        (live / "gate" / "fail").write_text("")
        (files / "kept").mkdir()
        script = link_outside(state, "r-1", ["gate", "data/pg", "kept"])
        assert sh(script).returncode == 0 and sh(script).returncode == 0
        assert (files / "gate").is_symlink() and (files / "gate" / "fail").exists()
        assert (files / "data/pg").resolve() == (live / "data/pg").resolve()
        assert (live / "data/pg").is_dir() and not (files / "kept").is_symlink()
        assert sh(drop_unlisted(state, "r-1")).returncode == 0  # removes the links, not the data
        assert (live / "gate" / "fail").exists() and not (files / "gate").is_symlink()
        assert sh(script).returncode == 0 and (files / "gate").is_symlink()

    def test_linking_outside_refuses_a_planted_link_at_the_release_dir(
        self, state: HostState, tmp_path: Path
    ) -> None:
        stage(state, "r-1", V1)
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        release = Path(state.release_dir("r-1"))
        release.rename(tmp_path / "moved")
        release.symlink_to(elsewhere)
        done = sh(link_outside(state, "r-1", ["gate"]))
        assert done.returncode == UNSAFE and "symlink" in done.stderr
        assert list(elsewhere.iterdir()) == []

    def test_a_release_that_is_not_staged_exits_3_and_changes_nothing(
        self, state: HostState
    ) -> None:
        stage(state, "r-1", V1)
        switch(state, "r-1")
        done = sh(switch_release(state, "r-9"))
        assert done.returncode == 3
        assert "release r-9 is not staged" in done.stderr
        assert Path(state.current).read_text().strip() == "r-1"


def test_pending_changes_lists_writes_and_removals(state: HostState) -> None:
    stage(state, "r-1", V1)
    first = sh(pending_changes(state, "r-1")).stdout.splitlines()
    assert sorted(first) == sorted(f"+ {r}" for r in V1)
    switch(state, "r-1")
    assert sh(pending_changes(state, "r-1")).stdout == ""
    stage(state, "r-2", V2)
    assert sorted(sh(pending_changes(state, "r-2")).stdout.splitlines()) == [
        "+ .env", "+ docker-compose.yml", "- old.yml",
    ]  # fmt: skip


def test_prune_keeps_the_current_and_the_kept_releases(state: HostState) -> None:
    for release in ("r-1", "r-2", "r-3", "r-4"):
        stage(state, release, V2)
    switch(state, "r-2")
    done = sh(prune_releases(state, ["r-4", "r-3"]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["r-1"]
    assert sorted(os.listdir(state.releases_dir)) == ["r-2", "r-3", "r-4"]


def test_prune_without_releases_is_a_no_op(state: HostState) -> None:
    done = sh(prune_releases(state, ["r-1"]))
    assert (done.returncode, done.stdout) == (0, "")


class TestManifestLines:
    def test_only_normal_relative_paths_outside_the_state_dir_are_lines(self) -> None:
        for good in ("docker-compose.yml", ".env", "proxy/nginx.conf", "a..b/c", ".dockyardx"):
            assert manifest_problem(good) == "", good
        for bad in ("", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/.", "a/",
                    ".dockyard", ".dockyard/lock", "a\nb", "a\rb"):  # fmt: skip
            assert manifest_problem(bad), bad


def outside(tmp_path: Path) -> Path:
    """A file outside the stack's remote_dir that no script may change."""
    victim = tmp_path / "outside" / "victim.txt"
    victim.parent.mkdir(exist_ok=True)
    victim.write_text("untouched")
    return victim


class TestPlantedHostState:
    """Each attack of issue 20 on a stack's directory: the script refuses (exit UNSAFE, saying
    what and the fix) or ignores the planted value, and nothing outside remote_dir changes."""

    def test_a_dotdot_line_in_the_old_manifest_removes_nothing_outside(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        stage(state, "r-1", V1)
        switch(state, "r-1")
        with open(state.release_manifest("r-1"), "a") as f:
            f.write("../outside/victim.txt\n")
        stage(state, "r-2", V2)
        for script in (pending_changes(state, "r-2"), switch_release(state, "r-2")):
            done = sh(script)
            assert done.returncode == UNSAFE
            assert "'../outside/victim.txt' is not a normal relative path" in done.stderr
        assert victim.read_text() == "untouched"
        assert Path(state.current).read_text().strip() == "r-1"
        assert (Path(state.remote_dir) / "old.yml").exists()  # nothing switched half-way

    def test_a_dotdot_line_in_the_new_manifest_writes_nothing_outside(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        stage(state, "r-1", V1)
        files = Path(state.release_files("r-1"))
        (files / "evil").write_text("root owns you")
        with open(state.release_manifest("r-1"), "a") as f:
            f.write("../../../../../outside/victim.txt\n")
        done = sh(switch_release(state, "r-1"))
        assert done.returncode == UNSAFE, done.stderr
        assert victim.read_text() == "untouched"
        assert not Path(state.current).exists()

    @pytest.mark.parametrize("target", [".env", "docker-compose.yml", "proxy"])
    def test_a_symlink_at_a_target_or_on_its_way_is_refused(
        self, state: HostState, tmp_path: Path, target: str
    ) -> None:
        victim = outside(tmp_path)
        stage(state, "r-1", V1)
        live = Path(state.remote_dir)
        live.mkdir(parents=True, exist_ok=True)
        link = victim if target != "proxy" else victim.parent
        (live / target).symlink_to(link)
        done = sh(switch_release(state, "r-1"))
        assert done.returncode == UNSAFE
        assert f"{live / target} is a symlink dockyard did not make" in done.stderr
        assert victim.read_text() == "untouched"
        assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]

    def test_a_symlink_in_the_release_files_is_never_copied_through(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        stage(state, "r-1", V1)
        staged = Path(state.release_files("r-1")) / "docker-compose.yml"
        staged.unlink()
        staged.symlink_to(victim)
        done = sh(switch_release(state, "r-1"))
        assert done.returncode == UNSAFE
        assert not (Path(state.remote_dir) / "docker-compose.yml").exists()

    def test_a_symlink_at_the_release_dir_is_refused_by_every_script(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        stage(state, "r-1", V1)
        Path(state.release_dir("r-2")).symlink_to(victim.parent, target_is_directory=True)
        for script in (seed_release(state, "r-2", "r-1"), switch_release(state, "r-2"),
                       drop_unlisted(state, "r-2")):  # fmt: skip
            done = sh(script)
            assert done.returncode in (UNSAFE, 3), done.stderr
        done = subprocess.run(["sh", "-c", install_manifest(state, "r-2", 2)], input="x\n",
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.returncode == UNSAFE
        assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]
        assert victim.read_text() == "untouched"

    def test_prune_never_removes_through_a_link(self, state: HostState, tmp_path: Path) -> None:
        victim = outside(tmp_path)
        stage(state, "r-1", V1)
        switch(state, "r-1")
        Path(state.release_dir("r-evil")).symlink_to(victim.parent, target_is_directory=True)
        done = sh(prune_releases(state, ["r-1"]))
        assert done.returncode == 0 and "r-evil" not in done.stdout
        assert victim.read_text() == "untouched"

    def test_a_current_that_is_not_a_release_id_is_ignored(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        (victim.parent / "manifest").write_text("victim.txt\n")
        stage(state, "r-1", V1)
        Path(state.current).write_text("../../outside\n")
        switch(state, "r-1")
        assert victim.read_text() == "untouched"

    def test_planted_temp_names_are_never_written_through(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        stage(state, "r-1", V1)
        live = Path(state.remote_dir)
        live.mkdir(parents=True, exist_ok=True)
        for name in (".env.dockyard-new", "docker-compose.yml.dockyard-new"):
            (live / name).symlink_to(victim)
        for pid in range(2, 400):  # what `$$` would have been
            Path(f"{state.current}.new").unlink(missing_ok=True)
            Path(f"{state.current}.tmp.{pid}").symlink_to(victim)
        Path(f"{state.current}.new").symlink_to(victim)
        switch(state, "r-1")
        assert victim.read_text() == "untouched"
        assert Path(state.current).read_text() == "r-1\n"

    def test_history_append_never_writes_through_a_planted_name(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        log = Path(state.releases_log)
        log.parent.mkdir(parents=True)
        for pid in range(2, 400):
            Path(f"{log}.tmp.{pid}").symlink_to(victim)
        done = subprocess.run(["sh", "-c", history_append(str(log), 10, 9)], input='{"a": 1}\n',
                              capture_output=True, text=True, timeout=30)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert victim.read_text() == "untouched" and log.read_text() == '{"a": 1}\n'

    def test_a_directory_link_at_a_target_is_replaced_not_moved_into(
        self, state: HostState, tmp_path: Path
    ) -> None:
        victim = outside(tmp_path)
        live = Path(state.remote_dir)
        live.mkdir(parents=True, exist_ok=True)
        Path(state.root).mkdir()
        Path(state.current).symlink_to(victim.parent, target_is_directory=True)
        stage(state, "r-1", V1)
        switch(state, "r-1")
        assert sorted(p.name for p in victim.parent.iterdir()) == ["victim.txt"]
        assert not Path(state.current).is_symlink()


def test_a_manifest_that_cannot_be_written_stops_the_staging_script(state: HostState) -> None:
    script = f"{install_manifest(state, 'r-1', 2)} && {{ {pending_changes(state, 'r-1')}; }}"
    done = subprocess.run(["sh", "-c", script], input="a\n", capture_output=True, text=True,
                          timeout=30)  # fmt: skip
    assert done.returncode != 0 and done.stdout == ""
    assert "mktemp" in done.stderr and "cd" not in done.stderr
