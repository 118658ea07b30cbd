"""A failed unlock fails its host and the host's later stacks are named as not deployed."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.config import StepsConfig
from dockyard.report import FAILED, ROLLED_BACK, SUCCEEDED, HostReport
from dockyard.ssh.errors import LinkDown
from flows import deploy as flow
from flows.steps import StepRunner


def failing_unlock(name: str, *_args: Any, **_kwargs: Any) -> None:
    assert name == "unlock"
    raise LinkDown("vm1", "no answer to keepalive probes; token=s3cret")


def mask(text: str) -> str:
    return text.replace("s3cret", "***")


def steps(report: HostReport) -> StepRunner:
    return StepRunner(report, StepsConfig())


def test_a_failed_unlock_after_a_good_stack_fails_the_host_masked() -> None:
    report = HostReport("vm1")
    with pytest.raises(LinkDown):
        flow._unlock(failing_unlock, steps(report), mask, report, "shop")
    assert report.result == FAILED
    assert report.error.startswith("unlock of shop failed: LinkDown:")
    assert "s3cret" not in report.error and "***" in report.error


def test_a_failed_unlock_after_a_failed_stack_keeps_the_first_error() -> None:
    report = HostReport("vm1", result=ROLLED_BACK, error="HealthCheckFailed: app")
    with pytest.raises(LinkDown):
        flow._unlock(failing_unlock, steps(report), mask, report, "shop")
    assert (report.result, report.error) == (ROLLED_BACK, "HealthCheckFailed: app")
    assert report.notes[0].startswith("unlock of shop failed")


def test_later_stacks_are_named_as_not_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    stacks = [SimpleNamespace(project=p) for p in ("shop", "billing", "edge")]
    config = SimpleNamespace(stacks=stacks, steps=StepsConfig())
    monkeypatch.setattr(flow, "load", lambda _request: SimpleNamespace(config=config))
    deployed = []

    def deploy_stack(step: StepRunner, _req: Any, _host: str, stack: Any, rep: HostReport) -> None:
        deployed.append(stack.project)
        flow._unlock(failing_unlock, step, mask, rep, stack.project)

    monkeypatch.setattr(flow, "_deploy_stack", deploy_stack)
    report = flow._deploy_host(SimpleNamespace(), "vm1")
    assert deployed == ["shop"]
    assert report.result == FAILED != SUCCEEDED
    assert "not deployed (stack shop failed): billing, edge" in report.notes
