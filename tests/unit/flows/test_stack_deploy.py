"""A whole stack deploy (flows.deploy.deploy_stack) against a fake host: every step's own task
body and step body run, only Prefect and the SSH link are left out, and the FakeRunner counts
what reached the host. The host facts are read once per stack (preflight) and handed on."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from dockyard.commands.disk import INSPECT_STATUS
from dockyard.converge.check import converge
from dockyard.deadline import Deadline
from dockyard.host.facts import facts_for, prefetch
from dockyard.images.plan import LocalImage, plan_pulls
from dockyard.images.resolve import ResolvedStack
from dockyard.pipeline.images import StackPlan
from dockyard.report import SUCCEEDED, HostReport
from dockyard.session import DeployRequest, load
from flows.deploy import deploy_stack
from tasks.context import running
from tests.fakes import FakeRunner
from tests.unit.stackkit import IMAGE, deploy_request

APP_ID = "sha256:" + "0a" * 32
CONTAINER = {"name": "/shop-app-1", "image": APP_ID, "state": "running", "exit_code": 0,
             "health": "", "labels": {"com.docker.compose.project": "shop",
                                      "com.docker.compose.service": "app",
                                      "com.docker.compose.config-hash": "c" * 64}}  # fmt: skip
IMAGES = [{"id": APP_ID, "tags": [], "digests": [IMAGE]}]
FACTS = json.dumps({"facts": 1, "docker": "27.5", "compose": "2.40.3",
                    "root_dir": "/var/lib/docker", "images": IMAGES,
                    "df": {"size_kb": 10_000_000, "avail_kb": 9_000_000},
                    "containers": [], "lock": None, "attempt": None,
                    "release_head": None})  # fmt: skip
AFTER_UP = json.dumps({"facts": 1, "images": IMAGES, "containers": [CONTAINER]})
PS = json.dumps([{"Service": "app", "Name": "shop-app-1", "State": "running", "Health": "",
                  "ExitCode": 0, "Image": IMAGE, "ID": "c1"}])  # fmt: skip


def fake_host(facts: str = FACTS) -> FakeRunner:
    """A host with docker and compose, the image already there, no lock and no release yet."""
    return (
        FakeRunner()
        .on("realpath -m --", "OK\n")  # the state guard: remote_dir safe, .dockyard/ made
        .on(r'"facts":1,"docker"', facts)
        .on(r'"facts":1,"images"', AFTER_UP)
        .on("echo SWAPPED", "SWAPPED\n")
        .on("echo REMOVED", "REMOVED\n")
        .on("stat -c %Y", "1700000000 -\n")
        .on(" open ", lambda cmd, _stdin: _opened(cmd))
        .on("--output=avail,size,pcent", "Avail Size Use%\n90000000000 100000000000 10%\n")
        .on(f"{INSPECT_STATUS} ", f"{INSPECT_STATUS} 0\n{INSPECT_STATUS} 0\n")  # nothing listed
        .on("ps --all --format json", PS)
    )


def _opened(script: str) -> Any:
    from dockyard.ssh.link import RunResult

    fresh = script.split("printf '%s\\n' ", 1)[1].split(" > ", 1)[0].strip("'")
    return RunResult(0, fresh + "\n", "")


class HostSteps:
    """Runs each step task's own body (unwrapped from Prefect and the recovery hook) on the
    fake host, under the step's Deadline, and reports it like flows.step_runner.StepRunner."""

    def __init__(self, report: HostReport, host: FakeRunner, stack_plan: StackPlan) -> None:
        self.report = report
        self.host = host
        self.stack_plan = stack_plan
        self.ran: list[str] = []

    def __call__(self, task: Any, *args: Any, label: str | None = None, retries: int | None = None,
                 run_name: str | None = None, **kwargs: Any) -> Any:  # fmt: skip
        return self.outcome(task, *args, label=label, **kwargs)[0]

    def outcome(self, task: Any, *args: Any, label: str | None = None, retries: int | None = None,
                run_name: str | None = None, **kwargs: Any) -> tuple[Any, bool]:  # fmt: skip
        self.ran.append(label or task.name)
        if task.name == "plan":  # its engine inspection goes over the docker API, not a Runner
            return self.stack_plan, False
        body = inspect.unwrap(task.fn)
        bound = inspect.signature(body).bind(*args, **kwargs).arguments
        loaded = load(bound["request"])
        hs = loaded.host_stack(bound["host"], bound["project"], lambda _line: None)
        hs.runs_on = self.host
        with running(hs, Deadline(task.name, 600)):
            return body(*args, **kwargs), False


@pytest.fixture
def request_(tmp_path: Path) -> DeployRequest:
    return deploy_request(tmp_path)


def test_a_whole_stack_deploy_reads_the_host_facts_once(request_: DeployRequest) -> None:
    loaded = load(request_)
    stack = loaded.config.stacks[0]
    resolved = ResolvedStack({"services": {"app": {"image": IMAGE}}}, ("app",), ())
    plan = plan_pulls({"app": IMAGE}, [LocalImage(APP_ID, (), (IMAGE,))], {})
    host = fake_host()
    steps = HostSteps(HostReport("vm1"), host, StackPlan(resolved, plan))

    deploy_stack(steps, request_, loaded, "vm1", stack)

    assert steps.report.result == SUCCEEDED, steps.report.error
    assert steps.ran[:5] == ["preflight", "converge", "lock", "plan", "diff"]
    assert set(steps.ran[5:10]) == {"verify", "sync", "env", "releases", "disk"}  # side by side
    assert steps.ran.index("sync") < steps.ran.index("env")
    assert steps.ran[10:] == ["stop-first", "up", "restarts", "health", "record", "cleanup",
                              "unlock"]  # fmt: skip
    facts_reads = [c for c in host.asked if '"facts":1,"docker"' in c]
    assert len(facts_reads) == 1  # preflight's read; converge and the disk gate got its facts
    after_up = [c for c in host.asked if '"facts":1,"images"' in c]
    assert len(after_up) == 1  # the record reads what runs after `up`, the stack alone
    assert host.asked.index(facts_reads[0]) < host.asked.index(after_up[0])
    assert any("docker compose" in c and " up " in c for c in host.asked)


def test_the_cli_check_and_the_deploy_after_it_read_the_host_facts_once(
    request_: DeployRequest,
) -> None:
    """`dockyard deploy` checks convergence before the flow (a new release here: changed);
    the flow's preflight then takes the facts that check read in this process."""
    loaded = load(request_)
    resolved = ResolvedStack({"services": {"app": {"image": IMAGE}}}, ("app",), ())
    plan = plan_pulls({"app": IMAGE}, [LocalImage(APP_ID, (), (IMAGE,))], {})
    host = fake_host()
    hs = loaded.host_stack("vm1", "shop", lambda _line: None)
    hs.runs_on = host
    deadline = Deadline("converge", 60)
    assert not converge(hs, prefetch(hs, deadline), deadline).unchanged

    steps = HostSteps(HostReport("vm1"), host, StackPlan(resolved, plan))
    deploy_stack(steps, request_, loaded, "vm1", loaded.config.stacks[0])

    assert steps.report.result == SUCCEEDED, steps.report.error
    assert len([c for c in host.asked if '"facts":1,"docker"' in c]) == 1


def test_a_prefetch_is_taken_once(request_: DeployRequest) -> None:
    host = fake_host()
    hs = load(request_).host_stack("vm1", "shop", lambda _line: None)
    hs.runs_on = host
    deadline = Deadline("preflight", 60)
    first = prefetch(hs, deadline)
    assert facts_for(hs, deadline) == first
    facts_for(hs, deadline)  # nothing left: read again
    assert len([c for c in host.asked if '"facts":1,"docker"' in c]) == 2


def test_with_room_to_spare_the_disk_gate_passes_on_the_facts_without_a_round_trip(
    request_: DeployRequest,
) -> None:
    loaded = load(request_)
    resolved = ResolvedStack({"services": {"app": {"image": IMAGE}}}, ("app",), ())
    plan = plan_pulls({"app": IMAGE}, [LocalImage(APP_ID, (), (IMAGE,))], {})
    roomy = json.loads(FACTS) | {"df": {"size_kb": 100_000_000, "avail_kb": 80_000_000}}
    host = fake_host(json.dumps(roomy))
    steps = HostSteps(HostReport("vm1"), host, StackPlan(resolved, plan))

    deploy_stack(steps, request_, loaded, "vm1", loaded.config.stacks[0])

    assert steps.report.result == SUCCEEDED, steps.report.error
    assert not [c for c in host.asked if "--output=avail,size,pcent" in c]
    history_reads = [c for c in host.asked if c.startswith("tail -n 500 ")]
    assert len(history_reads) == 2  # the releases step and cleanup's ownership, not the gate


def test_with_little_room_the_disk_gate_measures_the_disk(request_: DeployRequest) -> None:
    loaded = load(request_)
    resolved = ResolvedStack({"services": {"app": {"image": IMAGE}}}, ("app",), ())
    plan = plan_pulls({"app": IMAGE}, [LocalImage(APP_ID, (), (IMAGE,))], {})
    host = fake_host()  # 9 GB free of 10 GB: within 10 GB of the 15 GB threshold
    steps = HostSteps(HostReport("vm1"), host, StackPlan(resolved, plan))

    deploy_stack(steps, request_, loaded, "vm1", loaded.config.stacks[0])

    assert len([c for c in host.asked if "--output=avail,size,pcent" in c]) == 1
