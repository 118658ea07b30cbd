"""Detached jobs: run once per attempt, joined when still running, reported when lost (real sh)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest

from dockyard.commands.hoststate.jobs import JOB_CHUNK, job_poll, job_start, job_wrapper
from dockyard.commands.hoststate.paths import HostState
from dockyard.config import JobConfig
from dockyard.deadline import Deadline
from dockyard.errors import JobFailed
from dockyard.pipeline import jobs
from tests.unit.shhost import ShHost

pytestmark = pytest.mark.timeout(60)


@dataclass
class Project:
    """The part of ComposeProject a job uses: its argv is a plain sh command here."""

    state: HostState
    no_deps: list[bool] = field(default_factory=list)

    def run_job(
        self, service: str, command: tuple[str, ...] | list[str], no_deps: bool = False
    ) -> list[str]:
        self.no_deps.append(no_deps)
        return ["sh", "-c", " ".join(command)]


@dataclass
class Stack:
    project: Project
    runner: ShHost = field(default_factory=ShHost)
    logged: list[str] = field(default_factory=list)
    target: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(name="vm1"))

    def log(self, line: str) -> None:
        self.logged.append(line)

    def mask(self, text: str) -> str:
        return text.replace("s3cret", "***")


@pytest.fixture
def host() -> ShHost:
    return ShHost()


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, host: ShHost) -> Stack:
    monkeypatch.setattr(jobs, "WAIT", 0.3)
    staged = Stack(Project(HostState(str(tmp_path / "shop"))), runner=host)
    monkeypatch.setattr(jobs, "release_project", lambda _hs: staged.project)
    return staged


def job(tmp_path: Path, script: str) -> JobConfig:
    return JobConfig(name="migrate", service="migrator", command=[script], timeout=30)


def counting(tmp_path: Path, extra: str = "") -> str:
    """A job command that appends a line to runs.log each time it really runs."""
    return f"echo ran >> {tmp_path}/runs.log; echo applying s3cret; {extra}"


def runs(tmp_path: Path) -> int:
    log = tmp_path / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_a_job_runs_detached_once_and_its_masked_tail_comes_back(
    stack: Stack, tmp_path: Path
) -> None:
    tail = jobs.run_job(stack, job(tmp_path, counting(tmp_path)), "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert "applying ***" in tail and "s3cret" not in tail
    assert "applying ***" in stack.logged
    d = Path(stack.project.state.job_dir("a1", "migrate"))
    assert (d / "exit").read_text().strip() == "0" and (d / "pid").read_text().strip()
    assert runs(tmp_path) == 1


def test_a_finished_job_is_not_run_again_in_the_attempt(stack: Stack, tmp_path: Path) -> None:
    migrate = job(tmp_path, counting(tmp_path))
    jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert runs(tmp_path) == 1
    assert any("not run again" in line for line in stack.logged)
    jobs.run_job(stack, migrate, "a2", Deadline("job", 30))  # type: ignore[arg-type]
    assert runs(tmp_path) == 2


def test_a_job_still_running_is_joined_never_started_twice(stack: Stack, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    migrate = job(tmp_path, counting(tmp_path, f"while [ ! -e {gate} ]; do sleep 0.05; done"))
    d = stack.project.state.job_dir("a1", "migrate")
    argv = Project(stack.project.state).run_job("m", migrate.command or [])
    wrapper = job_wrapper(d, argv, 30).encode()
    started = ShHost().run(job_start(d, len(wrapper), 0, 100), stdin=wrapper).stdout
    assert started.splitlines()[0] == "STARTED"  # the first deployer started it, then died
    timer = threading.Timer(0.5, gate.touch)
    timer.start()
    jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    timer.join()
    assert any("joining it" in line for line in stack.logged)
    assert runs(tmp_path) == 1


def test_a_failed_job_raises_with_its_tail_and_runs_again_next_time(
    stack: Stack, tmp_path: Path
) -> None:
    flag = tmp_path / "fail"
    flag.touch()
    migrate = job(tmp_path, counting(tmp_path, f"[ ! -e {flag} ] || {{ echo boom; exit 3; }}"))
    with pytest.raises(JobFailed, match=r"(?s)exited 3.*boom"):
        jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    flag.unlink()
    jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert runs(tmp_path) == 2
    assert list(Path(stack.project.state.jobs_dir, "a1").glob("migrate.failed.*"))


def test_a_job_whose_wrapper_vanished_is_reported_not_rerun(stack: Stack, tmp_path: Path) -> None:
    d = Path(stack.project.state.job_dir("a1", "migrate"))
    d.mkdir(parents=True)
    (d / "pid").write_text("999999 1\n")  # no such process: the host rebooted mid-job
    (d / "started").write_text("1700000000\n")
    with pytest.raises(JobFailed, match="wrapper is gone"):
        jobs.run_job(stack, job(tmp_path, counting(tmp_path)), "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert runs(tmp_path) == 0


def test_a_job_that_ends_within_the_wait_costs_one_round_trip(
    stack: Stack, tmp_path: Path, host: ShHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "WAIT", 20.0)
    migrate = job(tmp_path, counting(tmp_path, "sleep 0.3; echo done"))
    tail = jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert len(host.commands) == 1
    assert tail.endswith("done\n") and "done" in stack.logged


def test_a_rerun_of_a_finished_job_reads_its_tail_in_the_same_round_trip(
    stack: Stack, tmp_path: Path, host: ShHost
) -> None:
    migrate = job(tmp_path, counting(tmp_path))
    jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    host.commands.clear()
    tail = jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert len(host.commands) == 1 and "applying ***" in tail


def test_a_long_job_is_polled_until_it_ends(
    stack: Stack, tmp_path: Path, host: ShHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jobs, "WAIT", 0.2)
    gate = tmp_path / "gate"
    migrate = job(tmp_path, counting(tmp_path, f"while [ ! -e {gate} ]; do sleep 0.05; done"))
    polls = 3

    def run(cmd: str, **kwargs: object) -> object:
        if len(host.commands) == polls:
            gate.touch()
        return ShHost.run(host, cmd, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(host, "run", run)
    jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert len(host.commands) > polls and runs(tmp_path) == 1


def test_output_longer_than_one_chunk_is_read_to_its_end(stack: Stack, tmp_path: Path) -> None:
    lines = 2 * JOB_CHUNK // 10
    migrate = job(tmp_path, f"seq -w 1 {lines} | sed 's/^/line-/'; echo last-line")
    tail = jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    assert tail.endswith("last-line\n") and len(tail) == jobs.TAIL
    assert stack.logged[-1] == "last-line"
    assert f"line-{lines}" in stack.logged and "line-00001" in stack.logged


def test_job_poll_waits_only_while_the_job_runs() -> None:
    script = job_poll("/srv/shop/.dockyard/jobs/a1/migrate", 10, 5)
    assert "[ $i -lt 50 ] && [ ! -f /srv/shop/.dockyard/jobs/a1/migrate/exit ]" in script
    assert "tail -c +11 /srv/shop/.dockyard/jobs/a1/migrate/out" in script
    assert f"head -c {JOB_CHUNK}" in script


def test_dependencies_are_left_be_once_a_release_runs(stack: Stack, tmp_path: Path) -> None:
    migrate = job(tmp_path, counting(tmp_path))
    jobs.run_job(stack, migrate, "a1", Deadline("job", 30))  # type: ignore[arg-type]
    Path(stack.project.state.current).parent.mkdir(parents=True, exist_ok=True)
    Path(stack.project.state.current).write_text("r-old\n")
    jobs.run_job(stack, migrate, "a2", Deadline("job", 30))  # type: ignore[arg-type]
    assert stack.project.no_deps == [False, True]
