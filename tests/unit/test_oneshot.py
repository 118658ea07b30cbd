"""Which services are one-shot and how `up` starts a stack with them (pure)."""

from __future__ import annotations

from dockyard.compose.oneshot import (
    EVERY_SERVICE,
    UpServices,
    completion_targets,
    job_services,
    one_shot_services,
    up_services,
)
from dockyard.config import JobConfig

CONFIG = {
    "services": {
        "app": {"depends_on": {"init": {"condition": "service_completed_successfully"},
                               "db": {"condition": "service_healthy"}}},
        "db": {},
        "init": {},
        "migrate": {"depends_on": {"db": {"condition": "service_started"}}},
        "sync": {},
        "admin": {},
    }
}  # fmt: skip
JOBS = [
    JobConfig(name="migrate", service="migrate"),
    JobConfig(name="cli", service="admin", command=["manage", "x"]),
    JobConfig(name="db", service="db", kind="up-wait"),
]


def test_the_three_kinds_of_one_shot() -> None:
    assert completion_targets(CONFIG) == {"init"}
    assert job_services(JOBS) == {"migrate"}
    assert one_shot_services(CONFIG, ["sync", "gone"], JOBS) == ("init", "migrate", "sync")


def test_a_job_with_a_command_or_up_wait_leaves_its_service_long_running() -> None:
    assert one_shot_services(CONFIG, [], JOBS) == ("init", "migrate")


def test_a_stack_without_one_shots_is_a_plain_up() -> None:
    assert up_services(["app", "db"], ["init"]) == EVERY_SERVICE == UpServices(None, ())


def test_up_waits_on_long_running_and_starts_declared_one_shots_only() -> None:
    active = ["app", "db", "init", "migrate", "sync", "admin"]
    starts = up_services(active, ["init", "migrate", "sync"], ["migrate"], ["init"])
    assert starts == UpServices(("app", "db", "admin"), ("sync",))


def test_only_one_shots_active_waits_on_nothing() -> None:
    assert up_services(["sync"], ["sync"]) == UpServices((), ("sync",))
