"""Pure tests of the convergence check: each reason a release is `changed`, and the no-op."""

from __future__ import annotations

import dataclasses

from dockyard.convergence import (
    SKIPPED_WHEN_UNCHANGED,
    RecordedRelease,
    RecordedService,
    RunningContainer,
    decide,
)

R = "127.0.0.1:5000/dockyard"
APP = "sha256:" + "a1" * 32
DB = "sha256:" + "d1" * 32
JOB = "sha256:" + "e1" * 32
OTHER = "sha256:" + "99" * 32
HASH_APP, HASH_DB, HASH_JOB = "c" * 64, "b" * 64, "f" * 64

CURRENT = RecordedRelease(
    id="r-1",
    services={
        "app": RecordedService(f"{R}/app@{APP}", HASH_APP),
        "db": RecordedService(DB, HASH_DB),
        "migrate": RecordedService(JOB, HASH_JOB),
    },
    one_shot=frozenset({"migrate"}),
)


def running() -> list[RunningContainer]:
    return [
        RunningContainer(
            "demo-app-1",
            "app",
            "sha256:" + "0a" * 32,
            HASH_APP,
            "running",
            "healthy",
            repo_digests=(f"{R}/app@{APP}",),
        ),
        RunningContainer("demo-db-1", "db", DB, HASH_DB, "running"),
        RunningContainer("demo-migrate-1", "migrate", JOB, HASH_JOB, "exited", exit_code=0),
    ]


def edit(containers: list[RunningContainer], name: str, **changes: object) -> list:
    return [dataclasses.replace(c, **changes) if c.name == name else c for c in containers]


def test_same_release_running_as_recorded_is_unchanged_and_skips_the_heavy_steps() -> None:
    result = decide("r-1", CURRENT, running(), to_pull=())
    assert result.unchanged and result.reasons == ("release r-1 already runs as recorded",)
    assert result.skip == SKIPPED_WHEN_UNCHANGED == ("jobs", "stop-first", "up", "restarts")
    assert result.to_json()["verdict"] == "unchanged"


def test_force_runs_everything_even_when_converged() -> None:
    result = decide("r-1", CURRENT, running(), to_pull=(), force=True)
    assert not result.unchanged and result.skip == ()
    assert result.reasons == ("--force: every step runs",)


def test_no_recorded_release_or_another_release_is_changed() -> None:
    assert decide("r-1", None, running(), ()).reasons == ("no release is recorded on the host",)
    assert decide("r-2", CURRENT, running(), ()).reasons == ("the host runs release r-1, not r-2",)


def test_an_image_to_pull_is_changed() -> None:
    result = decide("r-1", CURRENT, running(), to_pull=[f"{R}/app:latest"])
    assert result.reasons == (f"1 image(s) to pull: {R}/app:latest",)


def test_a_container_on_another_image_is_changed_and_names_both_digests() -> None:
    result = decide("r-1", CURRENT, edit(running(), "demo-db-1", image_id=OTHER), ())
    assert result.reasons == (f"demo-db-1 runs sha256:{'99' * 6}, recorded sha256:{'d1' * 6}",)


def test_a_config_hash_change_is_changed_because_compose_would_recreate() -> None:
    result = decide("r-1", CURRENT, edit(running(), "demo-app-1", config_hash="0" * 64), ())
    assert result.reasons == (
        f"demo-app-1 has config hash {'0' * 12}, recorded {'c' * 12} (compose recreates it)",
    )


def test_stopped_or_unhealthy_services_are_changed() -> None:
    stopped = decide(
        "r-1", CURRENT, edit(running(), "demo-db-1", state="exited", exit_code=137), ()
    )
    sick = decide("r-1", CURRENT, edit(running(), "demo-app-1", health="unhealthy"), ())
    assert stopped.reasons == ("demo-db-1 is exited (exit 137)",)
    assert sick.reasons == ("demo-app-1 is unhealthy",)


def test_a_missing_service_is_changed_but_a_removed_finished_job_is_not() -> None:
    no_db = [c for c in running() if c.service != "db"]
    no_job = [c for c in running() if c.service != "migrate"]
    assert decide("r-1", CURRENT, no_db, ()).reasons == ("service db has no container",)
    assert decide("r-1", CURRENT, no_job, ()).unchanged


def test_a_failed_job_is_changed() -> None:
    failed = edit(running(), "demo-migrate-1", exit_code=1)
    assert decide("r-1", CURRENT, failed, ()).reasons == (
        "one-shot demo-migrate-1 is exited (exit 1)",
    )


def test_an_extra_service_and_a_record_without_config_hash_are_changed() -> None:
    extra = [*running(), RunningContainer("demo-worker-1", "worker", OTHER, "x", "running")]
    assert decide("r-1", CURRENT, extra, ()).reasons == ("service worker runs but is not in "
                                                         "release r-1",)  # fmt: skip
    old_record = dataclasses.replace(
        CURRENT, services={**CURRENT.services, "db": RecordedService(DB)}
    )
    assert decide("r-1", old_record, running(), ()).reasons == (
        "service db has no config hash in the release record",
    )


def test_every_reason_is_listed_not_only_the_first() -> None:
    broken = edit(running(), "demo-db-1", image_id=OTHER, state="restarting")
    result = decide("r-1", CURRENT, broken, to_pull=["x"])
    assert len(result.reasons) == 3 and not result.unchanged
