"""The flow's own logic without Prefect: step order, the rollback window, stack order and
failed-host isolation, driven by a fake step runner that records what it was asked."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.compose.oneshot import UpServices
from dockyard.compose.startfirst import ReplaceSpec
from dockyard.config import RolloutConfig
from dockyard.config.deploy import DiskConfig
from dockyard.converge.verdict import Convergence
from dockyard.disk.gate import GB
from dockyard.host.facts import Disk
from dockyard.host.releases import Release
from dockyard.masking import Masker
from dockyard.pipeline.replace import Replaced
from dockyard.report import FAILED, NOT_STARTED, ROLLED_BACK, SUCCEEDED, DeployReport, HostReport
from dockyard.rollout import RolloutPlan
from dockyard.session import DeployRequest
from flows.deploy import deploy_stack
from flows.hosts import deploy_host, deploy_hosts, in_process, roll_out

CHANGED = Convergence("changed", ("the host runs release r-old, not r-new",))
REQUEST = DeployRequest("deploy.yaml", {}, "run-1", "tester")
GOOD = Release("r-old", "2026-01-01T00:00:00Z", "ci", "run-0", "succeeded", "h",
               {"app": "app@sha256:1"})  # fmt: skip


class Boom(Exception):
    pass


class FakeStep:
    """Answers step tasks by name, raises at the steps in `fail_at`, records each step's label
    and the retries it was given."""

    def __init__(self, report: HostReport, fail_at: set[str] = frozenset(), history=None,
                 verdict: Convergence = CHANGED) -> None:  # fmt: skip
        self.report = report
        self.verdict = verdict
        self.fail_at = set(fail_at)
        self.history = [GOOD] if history is None else history
        self.asked: list[str] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.retries: dict[str, int | None] = {}
        self.disk = Disk(100 * GB, 90 * GB)  # room to spare: pulls need not wait for the gate

    def _answer(self, name: str, label: str) -> Any:
        self.asked.append(label)
        if label in self.fail_at:
            raise Boom(f"{label} failed")
        return {
            "preflight": SimpleNamespace(disk=self.disk),
            "converge": self.verdict,
            "lock": SimpleNamespace(note="", attempt="att-1"),
            "plan": SimpleNamespace(
                plan=SimpleNamespace(
                    decisions=[_decision("app:v2"), _decision("db:15")],
                    to_pull=lambda: [_decision("app:v2")],
                ),
                resolved=SimpleNamespace(
                    config={
                        "services": {
                            "app": {},
                            "db": {},
                            "migrator": {"depends_on": {"app": {"condition": "service_started"}}},
                        }
                    },
                    active=("app", "db"),
                    one_shot=("seed",),
                    up=UpServices(("app", "db")),
                    linked=("data",),
                    start_first=(ReplaceSpec("app", "app:v2", 1),),
                ),
            ),
            "releases": self.history,
            "restarts": [],
            "pull": SimpleNamespace(bytes=123, seconds=1.5),
            "disk": SimpleNamespace(steps=[]),
            "rollback": ["restored release r-old's files and .env (2 change(s))"],
            "cleanup": SimpleNamespace(removed=[], refused=[]),
            "replace": Replaced("app", 1, 2.5, 3.0),
        }.get(name)

    def __call__(self, task: Any, *args: Any, label: str | None = None,
                 retries: int | None = None, **kwargs: Any) -> Any:  # fmt: skip
        self.retries[label or task.name] = retries
        self.calls.append((task.name, kwargs))
        return self._answer(task.name, label or task.name)

    def outcome(self, task: Any, *args: Any, label: str | None = None,
                retries: int | None = None, **kwargs: Any) -> tuple[Any, bool]:  # fmt: skip
        return self(task, *args, label=label, retries=retries, **kwargs), False


def _decision(image: str) -> SimpleNamespace:
    kind = SimpleNamespace(value="version")
    service = image.split(":")[0]
    return SimpleNamespace(image=image, service=service, services=(service,), kind=kind,
                           action="pull", reason="absent",
                           ref=SimpleNamespace(short=image))  # fmt: skip


def _stack(project: str, jobs: tuple[Any, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(project=project, jobs=list(jobs))


def _job(name: str, rerun_safe: bool, retries: int = 2) -> SimpleNamespace:
    return SimpleNamespace(name=name, service="migrator", rerun_safe=rerun_safe, retries=retries)


def _loaded(*stacks: SimpleNamespace) -> SimpleNamespace:
    config = SimpleNamespace(
        stacks=list(stacks), disk=DiskConfig(),
        images=SimpleNamespace(parallel=2), rollout=RolloutConfig(),
    )  # fmt: skip
    return SimpleNamespace(config=config, masker=Masker(["pw-secret"]))


HAPPY = [
    "preflight", "converge", "lock", "plan", "diff", "verify", "sync", "env", "releases", "disk",
    "pull app:v2", "job migrate", "stop-first", "replace app", "up", "restarts", "health",
    "record", "cleanup", "unlock",
]  # fmt: skip


def _run(fail_at: set[str] = frozenset(), history=None) -> FakeStep:
    step = FakeStep(HostReport("vm1"), fail_at, history)
    stack = _stack("shop", (_job("migrate", rerun_safe=False),))
    if fail_at - {"cleanup"}:  # a failed step fails the stack; a failed cleanup does not
        with pytest.raises(Boom):
            deploy_stack(step, REQUEST, _loaded(stack), "vm1", stack)
    else:
        deploy_stack(step, REQUEST, _loaded(stack), "vm1", stack)
    return step


CONCURRENT = {"verify", "sync", "env", "releases", "disk", "pull app:v2", "job migrate"}


def in_path_order(asked: list[str]) -> list[str]:
    """`asked` with the steps between the plan and stop-first (their order is the threads')
    in HAPPY's order, so the rest can be compared as a sequence."""
    inside = sorted((a for a in asked if a in CONCURRENT), key=HAPPY.index)
    first = next((i for i, a in enumerate(asked) if a in CONCURRENT), len(asked))
    rest = [a for a in asked[first:] if a not in CONCURRENT]
    return asked[:first] + inside + rest


def test_the_steps_run_in_pipeline_order_and_pull_bytes_reach_the_report() -> None:
    step = _run()
    assert in_path_order(step.asked) == HAPPY
    assert step.asked.index("job migrate") > step.asked.index("pull app:v2")
    assert step.report.result == SUCCEEDED
    assert ("shop: replace app: 1 container(s); new container healthy after 2.5 s, old drained, "
            "overlap 3.0 s") in step.report.notes  # fmt: skip
    assert {i.image: i.bytes for i in step.report.images} == {"app:v2": 123, "db:15": 0}


def test_an_unchanged_stack_stops_after_the_check_without_lock_or_cleanup() -> None:
    verdict = Convergence("unchanged", ("release r-new already runs as recorded",))
    step = FakeStep(HostReport("vm1"), verdict=verdict)
    stack = _stack("shop", (_job("migrate", rerun_safe=False),))
    deploy_stack(step, REQUEST, _loaded(stack), "vm1", stack)
    assert step.asked == ["preflight", "converge"]
    assert step.report.result == SUCCEEDED and step.report.unchanged == ["shop"]
    assert step.report.notes == [
        "shop: unchanged: release r-new already runs as recorded (--force runs every step)"
    ]


def test_a_changed_stack_reports_why_it_runs_the_flow() -> None:
    verdict = Convergence("changed", ("one-shot shop-seed-1 is exited (exit 1)", "2 image(s)"))
    step = FakeStep(HostReport("vm1"), verdict=verdict)
    stack = _stack("shop", ())
    deploy_stack(step, REQUEST, _loaded(stack), "vm1", stack)
    assert step.report.notes[0] == (
        "shop: changed: one-shot shop-seed-1 is exited (exit 1); 2 image(s)"
    )


def test_the_plan_refs_reach_the_release_record() -> None:
    step = _run()
    record = [c for c in step.calls if c[0] == "record"]
    assert record == [("record", {"refs": {"app": "app:v2", "db": "db:15"},
                                  "one_shot": ("seed",)})]  # fmt: skip


def test_a_migration_that_is_not_rerun_safe_is_never_retried() -> None:
    assert _run().retries["job migrate"] == 0


@pytest.mark.parametrize("failing", ["verify", "sync", "pull app:v2", "job migrate"])
def test_a_failure_before_stop_first_never_rolls_back(failing: str) -> None:
    step = _run({failing})
    assert step.report.result == FAILED
    assert "rollback" not in step.asked
    assert step.asked[-2:] == ["diagnostics", "unlock"]
    assert step.asked[:4] == HAPPY[:4] and failing in step.asked
    assert "stop-first" not in step.asked
    if failing != "job migrate":
        assert "job migrate" not in step.asked  # it waits for every check, staging and its pull


@pytest.mark.parametrize("failing", ["stop-first", "replace app", "up", "restarts", "health"])
def test_a_failure_from_stop_first_to_health_rolls_back_to_the_last_good_release(
    failing: str,
) -> None:
    step = _run({failing})
    at = step.asked.index(failing)
    assert step.asked[at + 1 :] == [
        "diagnostics", "rollback", "health after rollback", "record", "unlock",
    ]  # fmt: skip
    assert step.report.result == ROLLED_BACK
    assert any("rolled back to release r-old" in n for n in step.report.notes)
    assert any("restored release r-old's files" in n for n in step.report.notes)


def test_a_failed_record_after_health_passed_does_not_roll_back() -> None:
    step = _run({"record"})
    assert "rollback" not in step.asked and step.report.result == FAILED


def test_no_good_release_means_nothing_to_roll_back_to() -> None:
    step = _run({"up"}, history=[])
    assert "rollback" not in step.asked
    assert any("nothing to roll back to" in n for n in step.report.notes)


def test_a_failed_rollback_is_noted_and_the_host_stays_failed() -> None:
    step = _run({"up", "rollback"})
    assert step.report.result == FAILED
    assert any(n.startswith("rollback failed") for n in step.report.notes)
    assert step.asked[-1] == "unlock"


def test_a_failed_cleanup_leaves_the_deploy_standing() -> None:
    step = _run({"cleanup"})
    assert step.report.result == SUCCEEDED
    assert any("cleanup failed" in n for n in step.report.notes)


def test_a_failure_before_the_lock_is_held_does_not_unlock() -> None:
    step = _run({"lock"})
    assert "unlock" not in step.asked


def test_stacks_deploy_in_order_and_stop_at_the_first_failure() -> None:
    loaded = _loaded(_stack("db"), _stack("shop"), _stack("edge"))
    steps: list[FakeStep] = []

    def make(report: HostReport) -> FakeStep:
        steps.append(FakeStep(report, {"up"}))
        return steps[0]

    report = deploy_host(make, REQUEST, loaded, "vm1", deploy_stack)
    assert report.result == ROLLED_BACK
    assert steps[0].asked.count("preflight") == 1  # shop and edge never started
    assert any("not deployed" in n and "shop, edge" in n for n in report.notes)


def test_a_failed_unlock_after_a_healthy_stack_fails_the_host() -> None:
    loaded = _loaded(_stack("db"), _stack("shop"))
    report = deploy_host(lambda r: FakeStep(r, {"unlock"}), REQUEST, loaded, "vm1", deploy_stack)
    assert report.result == FAILED
    assert "unlock failed" in report.error
    assert any("not deployed" in n and "shop" in n for n in report.notes)


def test_one_host_failing_unexpectedly_does_not_stop_the_others() -> None:
    loaded = _loaded(_stack("shop"))

    def make(report: HostReport) -> FakeStep:
        if report.host == "vm2":
            raise RuntimeError("pw-secret leaked?")
        return FakeStep(report)

    reports = deploy_hosts(make, REQUEST, loaded, ["vm1", "vm2", "vm3"], deploy_stack)
    assert [r.result for r in reports] == [SUCCEEDED, FAILED, SUCCEEDED]
    assert "pw-secret" not in reports[1].error and "***" in reports[1].error


class Fleet:
    """Runs hosts in process with a FakeStep each (failing `up` on the hosts in `bad`) and
    records the order hosts started in and the most that ran at once."""

    def __init__(self, bad: set[str] = frozenset(), meet: int = 1) -> None:
        self.bad = set(bad)
        self.meet = threading.Barrier(meet, timeout=10)  # `meet` hosts must run at once
        self.started: list[str] = []
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()
        self.slept: list[float] = []

    def make(self, report: HostReport) -> FakeStep:
        return FakeStep(report, {"up"} if report.host in self.bad else set())

    def run(self, host: str) -> HostReport:
        with self.lock:
            self.started.append(host)
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            self.meet.wait()
            return in_process(self.make, REQUEST, _loaded(_stack("shop")), deploy_stack)(host)
        finally:
            with self.lock:
                self.running -= 1

    def roll(self, hosts: list[str], **policy: Any) -> tuple[list[HostReport], list[str]]:
        plan = RolloutPlan.make(hosts, RolloutConfig(**policy))
        return roll_out(plan, self.run, Masker(["pw-secret"]), self.slept.append)


VMS = [f"vm{i}" for i in range(1, 7)]


def test_the_canary_runs_alone_first_then_batches_with_the_pause_between() -> None:
    fleet = Fleet()
    reports, decisions = fleet.roll(VMS, canary=1, batch=2, pause="3s")
    assert fleet.started[0] == "vm1"
    assert [r.host for r in reports] == VMS and {r.result for r in reports} == {SUCCEEDED}
    assert fleet.slept == [3.0, 3.0, 3.0]  # before batches 2, 3 and 4, not before the canary
    assert reports[0].notes[-1] == "rollout canary: the first 1 of 6 hosts"
    assert reports[0].finished <= min(r.started for r in reports[1:])
    assert reports[2].finished <= min(r.started for r in reports[3:])
    assert decisions[0] == "no failure limit: every host is tried"
    assert decisions[-1] == "0 failed, within max_failed 6: batch 4: 1 of 6 hosts (batch 2)"


def test_a_failed_canary_stops_the_rollout_and_the_rest_are_not_started() -> None:
    fleet = Fleet({"vm1"})
    reports, decisions = fleet.roll(VMS, canary=1, batch=2)
    assert fleet.started == ["vm1"]
    assert [r.result for r in reports] == [ROLLED_BACK] + [NOT_STARTED] * 5
    assert reports[1].notes == ["left on its release: the canary failed (vm1): the rollout stops"]
    assert (reports[1].steps, reports[1].started) == ([], "")
    assert decisions[-1] == "the canary failed (vm1): the rollout stops"
    deploy = DeployReport("run-1", "rel", reports, decisions)
    assert deploy.result == FAILED
    assert deploy.failed_hosts == VMS and deploy.not_started == VMS[1:]
    assert deploy.summary() == "failed on vm1 not started: vm2, vm3, vm4, vm5, vm6"
    assert deploy.to_json()["not_started"] == VMS[1:]
    assert "## vm2: not started" in deploy.to_markdown()


def test_max_failed_one_lets_one_failure_through_and_stops_at_the_second() -> None:
    fleet = Fleet({"vm2", "vm4"})
    reports, _ = fleet.roll(VMS, batch=2, max_failed=1)
    assert fleet.started[:2] == ["vm1", "vm2"] and sorted(fleet.started) == VMS[:4]
    assert [r.result for r in reports] == [
        SUCCEEDED, ROLLED_BACK, SUCCEEDED, ROLLED_BACK, NOT_STARTED, NOT_STARTED,
    ]  # fmt: skip
    assert "2 hosts failed, more than max_failed 1" in reports[4].notes[0]


def test_at_most_parallel_hosts_run_at_once() -> None:
    fleet = Fleet(meet=2)
    fleet.roll(VMS, parallel=2)
    assert fleet.most == 2 and sorted(fleet.started) == VMS


def test_a_host_run_that_raises_is_a_failed_host_with_a_masked_error() -> None:
    def run(host: str) -> HostReport:
        raise RuntimeError("pw-secret is wrong")

    plan = RolloutPlan.make(["vm1", "vm2"], RolloutConfig(canary=1))
    reports, _ = roll_out(plan, run, Masker(["pw-secret"]), lambda s: None)
    assert [r.result for r in reports] == [FAILED, NOT_STARTED]
    assert reports[0].error == "RuntimeError: *** is wrong" and reports[0].started


def _rollback(history: list[Release], to: str | None) -> tuple[FakeStep, bool]:
    """Run rollback_stack; returns the fake and whether it raised (a failed stack)."""
    from flows.rollback import rollback_stack

    step = FakeStep(HostReport("vm1"), set(), history)
    stack = _stack("shop")
    try:
        rollback_stack(step, REQUEST, _loaded(stack), "vm1", stack, to)
    except LookupError:
        return step, True
    return step, False


NEWER = Release("r-new", "2026-02-01T00:00:00Z", "ci", "run-1", "succeeded", "h", {"app": "a@2"})


def test_cli_rollback_runs_the_flows_sequence_under_the_lock() -> None:
    step, failed = _rollback([GOOD, NEWER], None)
    assert not failed
    assert step.asked == [
        "lock", "releases", "rollback", "health after rollback", "record", "unlock",
    ]  # fmt: skip
    assert any("rolled back to release r-old" in n for n in step.report.notes)
    assert step.report.result == SUCCEEDED


def test_cli_rollback_without_a_target_fails_and_still_unlocks() -> None:
    step, failed = _rollback([NEWER], None)
    assert failed
    assert step.asked == ["lock", "releases", "unlock"]
    assert step.report.result == FAILED
    assert "no release before the current one" in step.report.error


def test_cli_rollback_to_an_unknown_release_names_it() -> None:
    step, failed = _rollback([GOOD, NEWER], "r-nope")
    assert failed
    assert "no release r-nope to roll back to" in step.report.error


JOURNALED = {"verify", "sync", "env", "pull app:v2", "job migrate"}


class TimedStep(FakeStep):
    """A FakeStep whose steps take time (`slow` seconds, default 0.05), recording when each
    started and ended; the journaled steps that finished are kept in `journal` and skipped
    (Cached) by a later run given that journal, as the host journal makes a rerun do."""

    def __init__(self, report: HostReport, fail_at: set[str] = frozenset(),
                 slow: dict[str, float] | None = None, journal: set[str] | None = None,
                 disk: Disk | None = None) -> None:  # fmt: skip
        super().__init__(report, fail_at)
        self.disk = disk or self.disk
        self.slow = slow or {}
        self.journal = set() if journal is None else journal
        self.ran: list[str] = []
        self.spans: dict[str, tuple[float, float]] = {}
        self.lock = threading.Lock()

    def __call__(self, task: Any, *args: Any, label: str | None = None,
                 retries: int | None = None, **kwargs: Any) -> Any:  # fmt: skip
        name = label or task.name
        if name in self.journal:
            with self.lock:
                self.asked.append(name)
            return super()._answer(task.name, "(cached)")
        started = time.monotonic()
        with self.lock:
            self.ran.append(name)
        try:
            time.sleep(self.slow.get(name, 0.05) if name in CONCURRENT else 0)
            with self.lock:
                value = super().__call__(task, *args, label=label, retries=retries, **kwargs)
        finally:
            with self.lock:
                self.spans[name] = (started, time.monotonic())
        if name in JOURNALED:
            with self.lock:
                self.journal.add(name)
        return value


def _timed(step: TimedStep) -> None:
    stack = _stack("shop", (_job("migrate", rerun_safe=False),))
    deploy_stack(step, REQUEST, _loaded(stack), "vm1", stack)


def test_the_steps_after_the_plan_overlap_and_jobs_wait_for_their_pull() -> None:
    step = TimedStep(HostReport("vm1"), slow={"pull app:v2": 0.3})
    _timed(step)
    assert step.report.result == SUCCEEDED
    together = ["verify", "sync", "releases", "disk", "pull app:v2"]
    spans = [step.spans[s] for s in together]
    assert max(start for start, _ in spans) < min(end for _, end in spans)  # all ran at once
    job_start = step.spans["job migrate"][0]
    assert all(step.spans[s][1] <= job_start for s in ["verify", "sync", "env", "disk",
                                                       "pull app:v2"])  # fmt: skip
    assert step.spans["job migrate"][1] <= step.spans["stop-first"][0]
    assert step.spans["plan"][1] <= min(start for start, _ in spans)
    assert step.spans["sync"][1] <= step.spans["env"][0] < step.spans["pull app:v2"][1]


def test_with_little_room_the_pull_starts_after_the_disk_gate() -> None:
    step = TimedStep(HostReport("vm1"), disk=Disk(100 * GB, 20 * GB))
    _timed(step)
    assert step.spans["disk"][1] <= step.spans["pull app:v2"][0]
    assert step.spans["sync"][0] < step.spans["disk"][1]  # the rest still runs beside the gate
    assert any("pulls wait for the disk gate" in n for n in step.report.notes)


def test_a_failed_concurrent_step_lets_the_others_finish_and_a_rerun_resumes_at_it() -> None:
    step = TimedStep(HostReport("vm1"), {"verify"}, slow={"verify": 0.1, "pull app:v2": 0.3})
    with pytest.raises(Boom, match="verify failed"):
        _timed(step)
    assert step.report.result == FAILED and "rollback" not in step.asked
    assert step.spans["pull app:v2"][1] > step.spans["verify"][1]  # ran on after verify failed
    assert step.journal == {"sync", "env", "pull app:v2"}  # what passed; the job never began
    assert "job migrate" not in step.ran
    assert any("not started (verify failed): job migrate" in n for n in step.report.notes)
    assert step.asked[-2:] == ["diagnostics", "unlock"]

    rerun = TimedStep(HostReport("vm1"), journal=step.journal)
    _timed(rerun)
    assert rerun.report.result == SUCCEEDED
    assert not {"sync", "env", "pull app:v2"} & set(rerun.ran)
    assert {"verify", "job migrate", "up"} <= set(rerun.ran)


def test_two_failed_concurrent_steps_raise_the_first_and_note_the_second() -> None:
    step = TimedStep(HostReport("vm1"), {"verify", "disk"}, slow={"verify": 0.02, "disk": 0.2})
    with pytest.raises(Boom, match="verify failed"):
        _timed(step)
    assert any(n.startswith("disk failed too: Boom: disk failed") for n in step.report.notes)
