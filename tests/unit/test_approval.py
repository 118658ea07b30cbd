"""Pure tests of rollout approval: the config fields, which batch pauses, the answer's reason,
the pause's text, and the rollout with a fake gate (approve, reject, time out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dockyard import approval
from dockyard.approval import Approval
from dockyard.config import ConfigError, RolloutConfig, load_config
from dockyard.masking import Masker
from dockyard.report import NOT_STARTED, ROLLED_BACK, SUCCEEDED, HostReport
from dockyard.rollout import RolloutPlan
from flows.hosts import roll_out
from tests.unit.configkit import ENVIRON, VARIABLES, full_config, make_project, new_keypair, write

HOSTS = ["vm3", "vm4", "vm5", "vm6", "vm7"]


def _plan(**policy: Any) -> RolloutPlan:
    return RolloutPlan.make(HOSTS, RolloutConfig(**policy))


def test_approval_is_off_by_default_with_an_hour_to_answer() -> None:
    policy = RolloutConfig()
    assert (policy.approve, policy.approve_timeout) == ("never", 3600.0)
    plan = _plan(canary=1, batch=2)
    assert [plan.asks_approval(i) for i in range(4)] == [False, False, False, False]


def test_after_canary_pauses_only_before_the_batch_after_the_canary() -> None:
    plan = _plan(canary=1, batch=2, approve="after_canary", approve_timeout="10m")
    assert plan.approve_timeout == 600.0
    assert [plan.asks_approval(i) for i in range(4)] == [False, True, False, False]


def test_before_each_batch_pauses_before_every_batch_but_the_first() -> None:
    plan = _plan(batch=2, approve="before_each_batch")
    assert len(plan.batches) == 3
    assert [plan.asks_approval(i) for i in range(3)] == [False, True, True]


def test_a_canary_that_is_the_whole_fleet_leaves_nothing_to_approve() -> None:
    plan = RolloutPlan.make(["vm3"], RolloutConfig(canary=1, approve="after_canary"))
    assert not any(plan.asks_approval(i) for i in range(2))


@pytest.mark.parametrize(
    ("rollout", "field", "words"),
    [
        ({"approve": "yes"}, "rollout.approve", "after_canary"),
        ({"approve": "after_canary"}, "rollout.approve", "set canary: 1"),
        ({"canary": 1, "approve_timeout": 0}, "rollout.approve_timeout", "more than 0"),
        ({"canary": 1, "approve_timeout": "soon"}, "rollout.approve_timeout", "90s, 5m"),
    ],
)
def test_a_bad_approval_setting_names_its_field_and_the_fix(
    tmp_path: Path, rollout: dict[str, Any], field: str, words: str
) -> None:
    project = make_project(tmp_path, new_keypair())
    data = full_config()
    data["rollout"] = rollout
    with pytest.raises(ConfigError) as info:
        load_config(write(project, data), VARIABLES, environ=ENVIRON)
    assert [p.field for p in info.value.problems] == [field]
    assert words in str(info.value)


def test_the_answer_names_who_and_why() -> None:
    assert approval.answer(True, " looks good ", "").reason == "approved by prefect-ui: looks good"
    no = approval.answer(False, "", "ci-bot")
    assert no.reason == "rejected by ci-bot: the rollout stops"
    late = Approval(False, "timeout", "no answer within 5 s", timed_out=True)
    assert (
        late.reason == "not approved in time: no answer within 5 s: the rollout stops as rejected"
    )


def test_pausing_needs_a_server_a_person_can_reach() -> None:
    assert approval.server_problem("never", False) == ""
    assert approval.server_problem("after_canary", True) == ""
    problem = approval.server_problem("after_canary", False)
    assert "PREFECT_API_URL" in problem and "rollout.approve: never" in problem


def test_the_pause_shows_the_next_batch_the_canary_report_and_the_diff() -> None:
    plan = _plan(canary=1, batch=2, approve="after_canary")
    canary = HostReport("vm3", notes=["app: changed: image"])
    text = approval.description("r-abc", plan.batches[1], [canary])
    assert "release r-abc" in text and "batch 2: 2 of 5 hosts" in text and "(vm4, vm5)" in text
    assert "## vm3: succeeded" in text and "app: changed: image" in text
    assert "# deployed so far" in text and "# deploy succeeded" not in text  # it is paused
    assert "the diff" not in text
    assert approval.description("r-abc", plan.batches[1], [canary], "the diff").endswith("the diff")


class FakeGate:
    """Answers in turn; records what it was asked and rolls back by marking reports."""

    def __init__(self, *answers: Approval) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[int, list[str]]] = []
        self.undone: list[str] = []

    def ask(self, index: int, done: list[HostReport]) -> Approval:
        self.asked.append((index, [r.host for r in done]))
        return self.answers.pop(0)

    def reject(self, done: list[HostReport]) -> list[HostReport]:
        self.undone = [r.host for r in done]
        return [HostReport(r.host, ROLLED_BACK) for r in done]


def _roll(plan: RolloutPlan, gate: FakeGate) -> tuple[list[HostReport], list[str], list[str]]:
    ran: list[str] = []

    def run(host: str) -> HostReport:
        ran.append(host)
        return HostReport(host)

    reports, decisions = roll_out(plan, run, Masker(), sleep=lambda s: None, gate=gate)
    return reports, decisions, ran


def test_an_approval_after_the_canary_lets_the_rest_deploy() -> None:
    gate = FakeGate(Approval(True, "alice", "ok"))
    reports, decisions, ran = _roll(_plan(canary=1, batch=2, approve="after_canary"), gate)
    assert gate.asked == [(1, ["vm3"])]
    assert ran == HOSTS and all(r.result == SUCCEEDED for r in reports)
    assert "approved by alice: ok" in decisions


def test_a_rejection_rolls_back_the_canary_and_leaves_the_rest_not_started() -> None:
    gate = FakeGate(Approval(False, "bob", "error rate up"))
    reports, decisions, ran = _roll(_plan(canary=1, batch=2, approve="after_canary"), gate)
    assert ran == ["vm3"] and gate.undone == ["vm3"]
    assert [(r.host, r.result) for r in reports] == [
        ("vm3", ROLLED_BACK),
        *((h, NOT_STARTED) for h in HOSTS[1:]),
    ]
    reason = "rejected by bob: error rate up: the rollout stops"
    assert decisions[-1] == reason
    assert reports[1].notes == [f"left on its release: {reason}"]


def test_before_each_batch_asks_each_time_and_a_late_rejection_stops_there() -> None:
    gate = FakeGate(Approval(True, "alice"), Approval(False, "timeout", timed_out=True))
    reports, _, ran = _roll(_plan(batch=2, approve="before_each_batch"), gate)
    assert gate.asked == [(1, ["vm3", "vm4"]), (2, ["vm3", "vm4", "vm5", "vm6"])]
    assert ran == HOSTS[:4] and gate.undone == HOSTS[:4]
    assert [r.result for r in reports] == [ROLLED_BACK] * 4 + [NOT_STARTED]


def test_a_failed_canary_stops_before_anyone_is_asked() -> None:
    gate = FakeGate()
    plan = _plan(canary=1, approve="after_canary")
    reports, _ = roll_out(plan, lambda h: HostReport(h, "failed"), Masker(), gate=gate)
    assert gate.asked == [] and [r.result for r in reports[1:]] == [NOT_STARTED] * 4


def _answer(batch: int, at: float, **form: Any) -> tuple[str, float, str]:
    return f"paused-approve-batch-{batch}-response", at, json.dumps(form)


def test_a_pool_host_run_records_the_latest_approval_before_it_was_made() -> None:
    answers = [
        _answer(0, 10.0, approve=True, approver="ana", comment=""),
        _answer(1, 30.0, approve=True, approver="", comment="looks fine"),
    ]
    assert approval.approver_before(answers, 20.0) == "ana"  # batch 1's host (or its Retry)
    assert approval.approver_before(answers, 40.0) == approval.UI_ACTOR  # the UI names nobody
    assert approval.approver_before(answers, 5.0) == ""  # made before anyone was asked
    assert approval.approver_before([], 40.0) == ""


def test_stored_answers_that_are_not_an_approval_are_ignored() -> None:
    answers = [
        _answer(0, 10.0, approve=True, approver="ana"),
        _answer(1, 11.0, approve=False, approver="bob"),  # a rejection approves nobody
        _answer(1, 12.0, approve="yes", approver="eve"),  # not the form's bool
        _answer(1, 13.0, approve=True, approver=["eve"]),  # not a name
        _answer(1, 14.0, approve=True, approver="e" * 201),  # over the bound
        ("paused-approve-batch-1-description", 15.0, '{"approve": true, "approver": "eve"}'),
        ("paused-other-response", 16.0, '{"approve": true, "approver": "eve"}'),
        ("paused-approve-batch-1-response", 17.0, "{not json"),
        ("paused-approve-batch-1-response", 18.0, '["approve"]'),
    ]
    assert approval.approver_before(answers, 20.0) == "ana"
