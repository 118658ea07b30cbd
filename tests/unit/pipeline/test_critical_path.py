"""The release's critical path: what may start when, the pull limit, when pulls wait for the
disk gate, and which pulls a job waits for."""

from __future__ import annotations

from dockyard.disk.gate import GB, DiskGate
from dockyard.host.facts import Disk
from dockyard.pipeline.critical_path import (
    CHECKS,
    release_path,
    room_to_spare,
    service_closure,
)

CONFIG = {
    "services": {
        "app": {"depends_on": {"postgres": {"condition": "service_healthy"}}},
        "postgres": {},
        "migrator": {"depends_on": {"postgres": {"condition": "service_healthy"}}},
        "proxy": {"depends_on": {"app": {"condition": "service_started"}}},
    }
}
PULLS = [("pull app:v2", ("app",)), ("pull migrator:v2", ("migrator",)),
         ("pull pg:16", ("postgres",)), ("pull proxy:2", ("proxy",))]  # fmt: skip
JOBS = [("job start-db", "postgres"), ("job migrate", "migrator")]
GATE = DiskGate(15, 70)
NOT_ENV = [c for c in CHECKS if c != "env"]  # env follows sync


def test_the_checks_and_the_pulls_start_together_when_the_gate_cannot_prune() -> None:
    path = release_path(PULLS, JOBS, CONFIG, pulls_wait_for_gate=False, pulls_at_once=4)
    assert path.ready(done=[], started=[]) == [*NOT_ENV, *(p for p, _ in PULLS)]
    assert path.ready(done=["sync"], started=path.ready([], [])) == ["env"]


def test_pulls_wait_for_the_gate_when_it_could_prune() -> None:
    path = release_path(PULLS, JOBS, CONFIG, pulls_wait_for_gate=True, pulls_at_once=4)
    assert path.ready(done=[], started=[]) == NOT_ENV
    assert path.ready(done=["disk"], started=NOT_ENV) == [p for p, _ in PULLS]


def test_at_most_pulls_at_once_pull_and_a_finished_pull_frees_its_place() -> None:
    path = release_path(PULLS, [], CONFIG, pulls_wait_for_gate=False, pulls_at_once=2)
    first = path.ready(done=[], started=[])
    assert first == [*NOT_ENV, "pull app:v2", "pull migrator:v2"]
    assert path.ready(done=["pull app:v2"], started=first) == ["pull pg:16"]


def test_a_job_waits_for_the_checks_staging_its_images_and_the_job_before_it() -> None:
    path = release_path(PULLS, JOBS, CONFIG, pulls_wait_for_gate=False, pulls_at_once=4)
    assert path.after("job start-db") == {"verify", "sync", "env", "disk", "pull pg:16"}
    assert path.after("job migrate") == {
        "verify", "sync", "env", "disk", "pull migrator:v2", "pull pg:16", "job start-db",
    }  # fmt: skip
    everything_but_the_app = [*CHECKS, "pull migrator:v2", "pull pg:16"]
    assert path.ready(done=everything_but_the_app, started=[*everything_but_the_app,
                      "pull app:v2", "pull proxy:2"]) == ["job start-db"]  # fmt: skip


def test_the_release_history_delays_nothing() -> None:
    path = release_path(PULLS, JOBS, CONFIG, pulls_wait_for_gate=True, pulls_at_once=4)
    assert all("releases" not in node.after for node in path.nodes)


def test_room_to_spare_needs_the_gate_to_pass_with_the_headroom_used() -> None:
    assert room_to_spare(Disk(100 * GB, 60 * GB), GATE)  # 50 GB free after 10 GB, 50% used
    assert not room_to_spare(Disk(100 * GB, 24 * GB), GATE)  # 14 GB left < 15
    assert not room_to_spare(Disk(100 * GB, 35 * GB), GATE)  # 75% used after the headroom
    assert not room_to_spare(Disk(100 * GB, 5 * GB), DiskGate(0, 100))  # not even the headroom
    assert not room_to_spare(None, GATE)


def test_a_service_closure_follows_depends_on_and_stops_at_cycles() -> None:
    assert service_closure(CONFIG, "proxy") == {"proxy", "app", "postgres"}
    cyclic = {"services": {"a": {"depends_on": {"b": {}}}, "b": {"depends_on": {"a": {}}}}}
    assert service_closure(cyclic, "a") == {"a", "b"}
    assert service_closure(CONFIG, "gone") == {"gone"}
