"""The convergence step's verdict from host facts (pure): the no-op and each reason it is not."""

from __future__ import annotations

import dataclasses

from dockyard.convergence import RunningContainer
from dockyard.hostfacts import HostFacts
from dockyard.images.plan import LocalImage, PlanPolicy
from dockyard.pipeline.converge import judge, recorded
from dockyard.pipeline.record import recorded_services, running_images

R = "127.0.0.1:5000/dockyard"
APP_ID, DB_ID, WORKER_ID = ("sha256:" + c * 64 for c in "abc")
APP_DIGEST, WORKER_DIGEST = "sha256:" + "1" * 64, "sha256:" + "2" * 64
REFS = {"app": f"{R}/app:v1", "db": f"{R}/db:15", "worker": f"{R}/worker:latest"}
CONTAINERS = (
    RunningContainer("shop-app-1", "app", APP_ID, "h-app", "running", "healthy",
                     repo_digests=(f"{R}/app@{APP_DIGEST}",)),
    RunningContainer("shop-db-1", "db", DB_ID, "h-db", "running"),
    RunningContainer("shop-worker-1", "worker", WORKER_ID, "h-worker", "running",
                     repo_digests=(f"{R}/worker@{WORKER_DIGEST}",)),
)  # fmt: skip
IMAGES = (
    LocalImage(APP_ID, (f"{R}/app:v1",), (f"{R}/app@{APP_DIGEST}",)),
    LocalImage(DB_ID, (f"{R}/db:15",)),
    LocalImage(WORKER_ID, (f"{R}/worker:latest",), (f"{R}/worker@{WORKER_DIGEST}",)),
)


def _facts(**changes: object) -> HostFacts:
    base = HostFacts("27.5", "2.40.3", "/var/lib/docker", None, IMAGES, CONTAINERS, None, None,
                     None)  # fmt: skip
    facts = dataclasses.replace(base, **changes)
    if "release_head" not in changes:
        facts = dataclasses.replace(facts, release_head=_head(facts))
    return facts


def _head(facts: HostFacts, **changes: object) -> dict:
    return {"id": "r-1", "result": "succeeded", "refs": REFS,
            "services": recorded_services(facts), **changes}  # fmt: skip


class Registry:
    """Answers manifest digests from a table and records what it was asked."""

    def __init__(self, digests: dict[str, str]) -> None:
        self.digests = digests
        self.asked: list[str] = []

    def __call__(self, ref: object) -> str:
        self.asked.append(str(ref))
        return self.digests[str(ref)]


def _registry(worker: str = WORKER_DIGEST) -> Registry:
    return Registry({f"{R}/worker:latest": worker})


def test_the_recorded_release_running_as_recorded_is_unchanged_asking_only_the_moving_tag() -> None:
    registry = _registry()
    verdict = judge(_facts(), "r-1", PlanPolicy(), registry)
    assert verdict.unchanged, verdict.reasons
    assert verdict.reasons == ("release r-1 already runs as recorded",)
    assert registry.asked == [f"{R}/worker:latest"]


def test_pull_always_is_asked_of_the_registry_not_pulled() -> None:
    policy = PlanPolicy(overrides={"worker": "always", "db": "always"})
    db_digest = "sha256:" + "3" * 64
    db = LocalImage(DB_ID, (f"{R}/db:15",), (f"{R}/db@{db_digest}",))
    facts = _facts(images=(IMAGES[0], db, IMAGES[2]))
    registry = Registry({f"{R}/worker:latest": WORKER_DIGEST, f"{R}/db:15": db_digest})
    assert judge(facts, "r-1", policy, registry).unchanged
    assert sorted(registry.asked) == [f"{R}/db:15", f"{R}/worker:latest"]


def test_a_moved_tag_is_changed_naming_the_image() -> None:
    verdict = judge(_facts(), "r-1", PlanPolicy(), _registry("sha256:" + "9" * 64))
    assert not verdict.unchanged
    assert verdict.reasons == (f"1 image(s) to pull: {R}/worker:latest",)


def test_another_release_a_held_lock_or_a_failed_last_deploy_is_changed() -> None:
    assert judge(_facts(), "r-2", PlanPolicy(), _registry()).reasons == (
        "the host runs release r-1, not r-2",
    )
    held = judge(_facts(lock='{"run_id": "x"}'), "r-1", PlanPolicy(), _registry())
    assert held.reasons == ("a deploy holds the stack's lock: the full deploy waits for it",)
    failed = _facts()
    failed = dataclasses.replace(failed, release_head=_head(failed, result="rolled_back"))
    assert judge(failed, "r-1", PlanPolicy(), _registry()).reasons == (
        "the last deploy of the stack ended rolled_back",
    )


def test_a_record_without_refs_or_none_at_all_is_changed() -> None:
    facts = _facts()
    no_refs = dataclasses.replace(facts, release_head=_head(facts, refs={}))
    assert "no per-service images" in judge(no_refs, "r-1", PlanPolicy(), _registry()).reasons[0]
    nothing = _facts(release_head=None)
    assert judge(nothing, "r-1", PlanPolicy(), _registry()).reasons == (
        "no release is recorded on the host",
    )
    assert recorded({"id": "r-1", "result": "succeeded", "refs": REFS,
                     "services": {"app": {"id": APP_ID}}}) == (
        "the release record's services are malformed"
    )  # fmt: skip


def test_drift_after_the_record_is_changed() -> None:
    facts = _facts()
    recreated = dataclasses.replace(CONTAINERS[1], config_hash="h-db-edited")
    drifted = dataclasses.replace(facts, containers=(CONTAINERS[0], recreated, CONTAINERS[2]))
    reasons = judge(drifted, "r-1", PlanPolicy(), _registry()).reasons
    assert reasons == (
        "shop-db-1 has config hash h-db-edited, recorded h-db (compose recreates it)",
    )
    stopped = dataclasses.replace(CONTAINERS[0], state="exited", exit_code=137)
    down = dataclasses.replace(facts, containers=(stopped, *CONTAINERS[1:]))
    assert judge(down, "r-1", PlanPolicy(), _registry()).reasons == (
        "shop-app-1 is exited (exit 137)",
    )


def test_force_runs_everything_without_asking() -> None:
    registry = _registry()
    verdict = judge(_facts(), "r-1", PlanPolicy(), registry, force=True)
    assert verdict.reasons == ("--force: every step runs",) and registry.asked == []


def test_a_jobs_run_container_is_neither_recorded_nor_a_reason() -> None:
    job = RunningContainer("shop-migrator-run-1", "migrator", APP_ID, "h-job", "exited",
                           exit_code=1, one_off=True)  # fmt: skip
    facts = _facts(containers=(*CONTAINERS, job))
    assert "migrator" not in recorded_services(facts)
    assert "migrator" not in running_images(facts)
    assert judge(facts, "r-1", PlanPolicy(), _registry()).unchanged


def test_running_images_name_the_repo_digest_else_the_image_id() -> None:
    assert running_images(_facts()) == {
        "app": f"{R}/app@{APP_DIGEST}", "db": DB_ID, "worker": f"{R}/worker@{WORKER_DIGEST}",
    }  # fmt: skip


def test_a_one_shot_that_exited_0_is_converged_as_the_record_says() -> None:
    init = RunningContainer("shop-init-1", "init", DB_ID, "h-init", "exited")
    facts = _facts(containers=(*CONTAINERS, init))
    head = _head(facts, one_shot=["init"])
    assert recorded(head).one_shot == frozenset({"init"})
    assert judge(dataclasses.replace(facts, release_head=head), "r-1", PlanPolicy(),
                 _registry()).unchanged  # fmt: skip
    verdict = judge(facts, "r-1", PlanPolicy(), _registry())
    assert verdict.reasons == ("shop-init-1 is exited (exit 0)",)
    failed = dataclasses.replace(init, exit_code=2)
    facts = _facts(containers=(*CONTAINERS, failed))
    verdict = judge(dataclasses.replace(facts, release_head=_head(facts, one_shot=["init"])),
                    "r-1", PlanPolicy(), _registry())  # fmt: skip
    assert verdict.reasons == ("one-shot shop-init-1 is exited (exit 2)",)
