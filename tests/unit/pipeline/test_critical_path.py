"""The release's critical path: what may start when, the pull limit, when pulls wait for the
disk gate, and that a job waits for every pull."""

from __future__ import annotations

from dockyard.disk.gate import GB, DiskGate
from dockyard.host.facts import Disk
from dockyard.pipeline.critical_path import (
    CHECKS,
    release_path,
    room_to_spare,
)

PULLS = ["pull app:v2", "pull migrator:v2", "pull pg:16", "pull proxy:2"]
JOBS = ["job start-db", "job migrate"]
GATE = DiskGate(15, 70)
NOT_ENV = [c for c in CHECKS if c != "env"]  # env follows sync


def test_the_checks_and_the_pulls_start_together_when_the_gate_cannot_prune() -> None:
    path = release_path(PULLS, JOBS, pulls_wait_for_gate=False, pulls_at_once=4)
    assert path.ready(done=[], started=[]) == [*NOT_ENV, *PULLS]
    assert path.ready(done=["sync"], started=path.ready([], [])) == ["env"]


def test_pulls_wait_for_the_gate_when_it_could_prune() -> None:
    path = release_path(PULLS, JOBS, pulls_wait_for_gate=True, pulls_at_once=4)
    assert path.ready(done=[], started=[]) == NOT_ENV
    assert path.ready(done=["disk"], started=NOT_ENV) == PULLS


def test_at_most_pulls_at_once_pull_and_a_finished_pull_frees_its_place() -> None:
    path = release_path(PULLS, [], pulls_wait_for_gate=False, pulls_at_once=2)
    first = path.ready(done=[], started=[])
    assert first == [*NOT_ENV, "pull app:v2", "pull migrator:v2"]
    assert path.ready(done=["pull app:v2"], started=first) == ["pull pg:16"]


def test_a_job_waits_for_the_checks_staging_every_pull_and_the_job_before_it() -> None:
    path = release_path(PULLS, JOBS, pulls_wait_for_gate=False, pulls_at_once=4)
    checks = {"verify", "sync", "env", "disk"}
    assert path.after("job start-db") == checks | set(PULLS)
    assert path.after("job migrate") == checks | set(PULLS) | {"job start-db"}
    all_but_the_app = [*CHECKS, "pull migrator:v2", "pull pg:16", "pull proxy:2"]
    assert path.ready(done=all_but_the_app, started=[*all_but_the_app, "pull app:v2"]) == []


def test_the_release_history_delays_nothing() -> None:
    path = release_path(PULLS, JOBS, pulls_wait_for_gate=True, pulls_at_once=4)
    assert all("releases" not in node.after for node in path.nodes)


def test_room_to_spare_needs_the_gate_to_pass_with_the_headroom_used() -> None:
    assert room_to_spare(Disk(100 * GB, 60 * GB), GATE)  # 50 GB free after 10 GB, 50% used
    assert not room_to_spare(Disk(100 * GB, 24 * GB), GATE)  # 14 GB left < 15
    assert not room_to_spare(Disk(100 * GB, 35 * GB), GATE)  # 75% used after the headroom
    assert not room_to_spare(Disk(100 * GB, 5 * GB), DiskGate(0, 100))  # not even the headroom
    assert not room_to_spare(None, GATE)
