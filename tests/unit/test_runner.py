"""LinkRunner: each call gets the step's time left; the step's time running out is StepTimeout."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.deadline import Deadline
from dockyard.errors import StepTimeout
from dockyard.masking import Masker
from dockyard.runner import LinkRunner
from dockyard.ssh.errors import CommandTimeout, TransferTimeout
from dockyard.ssh.execute import RunResult


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeLink:
    """Records the timeout each call got; `spend` seconds pass per call, then it may time out."""

    def __init__(
        self, clock: Clock, spend: float, fail: type[CommandTimeout] | None = None
    ) -> None:
        self.clock, self.spend, self.fail = clock, spend, fail
        self.timeouts: list[float] = []

    def _call(self, timeout: float, what: str) -> None:
        self.timeouts.append(timeout)
        self.clock.now += min(self.spend, timeout)
        if self.fail is not None and self.spend >= timeout:
            if self.fail is TransferTimeout:
                raise TransferTimeout("vm1", what, timeout)
            raise CommandTimeout("vm1", what, timeout, True)

    def run(self, cmd: Any, *, timeout: float, **_: Any) -> RunResult:
        self._call(timeout, str(cmd))
        return RunResult(0, "ok", "")

    def write_file(self, path: str, data: bytes, *, mode: int, timeout: float) -> None:
        self._call(timeout, path)

    def upload_tree(self, local: Path, remote: str, *, timeout: float) -> list[str]:
        self._call(timeout, remote)
        return []


def _runner(link: FakeLink) -> LinkRunner:
    return LinkRunner(link, lambda _line: None, Masker(["s3cret-pw"]))  # type: ignore[arg-type]


def test_each_call_gets_only_the_time_left_and_caps_apply() -> None:
    clock = Clock()
    link = FakeLink(clock, spend=4)
    runner, deadline = _runner(link), Deadline("health", 10, clock=clock)
    runner.run("a", deadline=deadline)
    runner.run("b", deadline=deadline, cap=2)
    runner.write_file("/x", b"", mode=0o600, deadline=deadline)
    assert link.timeouts == [10, 2, 4]


def test_a_command_outliving_the_step_is_a_step_timeout_with_the_masked_command() -> None:
    clock = Clock()
    link = FakeLink(clock, spend=30, fail=CommandTimeout)
    with pytest.raises(StepTimeout) as info:
        _runner(link).run(
            ["migrate", "--pw", "s3cret-pw"], deadline=Deadline("job", 5, clock=clock)
        )
    assert "step job ran past its 5 s timeout" in str(info.value)
    assert "s3cret-pw" not in str(info.value) and "***" in str(info.value)


def test_a_cap_running_out_stays_a_command_timeout() -> None:
    clock = Clock()
    link = FakeLink(clock, spend=30, fail=CommandTimeout)
    with pytest.raises(CommandTimeout):
        _runner(link).run("hook", deadline=Deadline("health", 60, clock=clock), cap=3)


def test_a_transfer_outliving_the_step_is_a_step_timeout() -> None:
    clock = Clock()
    link = FakeLink(clock, spend=30, fail=TransferTimeout)
    with pytest.raises(StepTimeout, match="uploading to /opt/shop"):
        _runner(link).upload_tree(Path("."), "/opt/shop", deadline=Deadline("sync", 5, clock=clock))


def test_nothing_starts_once_the_step_is_spent() -> None:
    clock = Clock()
    link = FakeLink(clock, spend=0)
    deadline = Deadline("up", 5, clock=clock)
    clock.now = 6
    with pytest.raises(StepTimeout):
        _runner(link).run("docker compose up", deadline=deadline)
    assert link.timeouts == []
