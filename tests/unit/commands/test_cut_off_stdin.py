"""Every host write fed on stdin lands whole or not at all (real sh): a deployer killed mid-send
ends the channel early, which `cat` takes for the end of its input."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from dockyard.commands import remote
from dockyard.commands.hoststate.jobs import job_start, job_wrapper
from dockyard.commands.hoststate.lease import lock_swap
from dockyard.commands.hoststate.paths import HostState, write_atomic
from dockyard.commands.hoststate.release import history_append, install_manifest
from dockyard.deadline import Deadline
from dockyard.host import journal
from dockyard.masking import Masker
from dockyard.ssh.errors import CommandFailed
from tests.unit.shhost import ShHost


class CutOffHost(ShHost):
    """A host whose stdin stops halfway (or at once: `keep=0`), as when the deployer dies."""

    def __init__(self, keep: float = 0.5) -> None:
        super().__init__()
        self.keep = keep

    def run(self, cmd, *, stdin=None, **kwargs):  # type: ignore[no-untyped-def, override]
        cut = stdin[: int(len(stdin) * self.keep)] if stdin else stdin
        return super().run(cmd, stdin=cut, **kwargs)


def sh(script: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["sh", "-c", script], input=stdin, capture_output=True, timeout=30)


@pytest.fixture
def state(tmp_path: Path) -> HostState:
    return HostState(str(tmp_path / "shop"))


@pytest.mark.parametrize("keep", [0, 9])
def test_a_cut_off_atomic_write_keeps_the_old_file(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "d" / "hashes.json"
    new = b'{"a.conf": "' + b"0" * 64 + b'"}'
    assert sh(write_atomic(str(path), len(new)), new).returncode == 0
    assert path.read_bytes() == new
    done = sh(write_atomic(str(path), len(new) + 1), new[:keep])
    assert done.returncode != 0
    assert path.read_bytes() == new and sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("keep", [0, 0.5])
def test_a_cut_off_journal_entry_is_never_written_so_the_step_runs_again(
    state: HostState, keep: float
) -> None:
    deadline, types = Deadline("journal", 30), {}
    with pytest.raises(CommandFailed):
        journal.record(CutOffHost(keep), state, "a1", "sync", ["x"], Masker(), deadline, types)
    assert journal.read_attempt(ShHost(), state, "a1", deadline, types) == {}


def test_a_cut_off_lock_leaves_the_lock_as_it_was(state: HostState) -> None:
    Path(state.root).mkdir(parents=True)
    Path(state.lock).write_text("held by r1")
    new = b'{"run_id": "r2"}'
    done = sh(lock_swap(state, "held by r1", len(new)), new[:5])
    assert done.returncode != 0 or b"SWAPPED" not in done.stdout
    assert Path(state.lock).read_text() == "held by r1"


def test_a_cut_off_job_wrapper_never_runs_and_leaves_no_job_dir(tmp_path: Path) -> None:
    d = str(tmp_path / "jobs" / "a1" / "migrate")
    ran = tmp_path / "ran"
    wrapper = job_wrapper(d, ["sh", "-c", f"echo once >> {ran}"], 30).encode()
    # cut at the end of the line that starts the job: the cut-off wrapper would run it
    cut = wrapper[: wrapper.index(b"\ns=$?") + 1]
    done = sh(job_start(d, len(wrapper), 1, 100), cut)
    assert done.returncode != 0 and b"STARTED" not in done.stdout
    assert not Path(d).exists() and not ran.exists()
    started = sh(job_start(d, len(wrapper), 5, 100), wrapper)  # the next deployer starts it
    assert started.stdout.splitlines()[0] == b"STARTED"
    assert ran.read_text() == "once\n"


def test_a_cut_off_manifest_drops_nothing(state: HostState) -> None:
    files = Path(state.release_files("r-2"))
    files.mkdir(parents=True)
    (files / "a.yml").write_text("a")
    (files / "b.yml").write_text("b")
    listing = b"a.yml\nb.yml\n"
    done = sh(install_manifest(state, "r-2", len(listing)), listing[:6])  # "a.yml\n"
    assert done.returncode != 0
    assert sorted(p.name for p in files.iterdir()) == ["a.yml", "b.yml"]
    assert not Path(state.release_manifest("r-2")).exists()


def test_a_cut_off_release_record_leaves_the_history_as_it_was(tmp_path: Path) -> None:
    log = tmp_path / "releases.log"
    log.write_text('{"release": "r-1"}\n')
    record = b'{"release": "r-2"}\n'
    for cut in (b"", record[:8]):
        assert sh(history_append(str(log), 10, len(record)), cut).returncode != 0
    assert log.read_text() == '{"release": "r-1"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["releases.log"]
    assert sh(history_append(str(log), 10, len(record)), record).returncode == 0
    assert log.read_text() == '{"release": "r-1"}\n{"release": "r-2"}\n'


def test_cut_off_checksums_move_no_staged_file(tmp_path: Path) -> None:
    stage = remote.stage_dir(str(tmp_path), "1")
    Path(stage).mkdir()
    Path(stage, "0").write_bytes(b"one\n")
    Path(stage, "1").write_bytes(b"two\n")
    targets = [(hashlib.sha256(b).hexdigest(), str(tmp_path / n)) for b, n in
               ((b"one\n", "one"), (b"two\n", "two"))]  # fmt: skip
    script, checks = remote.install_staged(stage, targets)
    first_line = checks[: checks.index(b"\n") + 1]
    assert sh(script, first_line).returncode != 0
    assert not (tmp_path / "one").exists() and not (tmp_path / "two").exists()
