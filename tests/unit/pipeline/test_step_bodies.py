"""Step bodies on a fake host (tests/fakes.FakeRunner): preflight, the host facts, health checks,
diagnostics, the release record and rollback; what each asks of the host and what it makes of
the answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.deadline import Deadline
from dockyard.errors import HealthCheckFailed
from dockyard.host import record, rollback
from dockyard.host.facts import FactsError, read_facts
from dockyard.host.releases import Release
from dockyard.pipeline import checks, diagnostics
from dockyard.pipeline.preflight import PreflightFailed, preflight
from dockyard.session import HostStack
from tests.fakes import FakeRunner
from tests.unit.stackkit import IMAGE, stack_on

APP_ID = "sha256:" + "0a" * 32
ENGINE = {"facts": 1, "docker": "27.5", "compose": "2.40.3", "root_dir": "/var/lib/docker",
          "df": None, "images": [], "containers": [], "lock": None, "attempt": None,
          "release_head": None}  # fmt: skip
LABELS = {"com.docker.compose.service": "app", "com.docker.compose.config-hash": "h1"}
CONTAINER = {"name": "/shop-app-1", "image": APP_ID, "state": "running", "exit_code": 0,
             "health": "", "labels": LABELS}  # fmt: skip
RUNNING = json.dumps({"facts": 1, "images": [{"id": APP_ID, "tags": [], "digests": [IMAGE]}],
                      "containers": [CONTAINER]})  # fmt: skip


def deadline(step: str = "step") -> Deadline:
    return Deadline(step, 60)


def ps(state: str = "running", health: str = "") -> str:
    return json.dumps([{"Service": "app", "Name": "shop-app-1", "State": state, "Health": health,
                        "ExitCode": 0 if state == "running" else 1}])  # fmt: skip


class TestPreflightAndFacts:
    def test_preflight_is_one_facts_read_and_returns_the_facts(self, tmp_path: Path) -> None:
        host = FakeRunner().on('"facts":1', json.dumps(ENGINE))
        facts = preflight(stack_on(host, tmp_path), deadline("preflight"))
        assert (facts.docker_version, facts.compose_version, facts.root_dir) == (
            "27.5", "2.40.3", "/var/lib/docker")  # fmt: skip
        assert (
            len(host.asked) == 1
            and "--filter label=com.docker.compose.project=shop" in host.asked[0]
        )

    def test_a_silent_daemon_or_plugin_fails_preflight_naming_it(self, tmp_path: Path) -> None:
        host = FakeRunner().on('"facts":1', json.dumps({**ENGINE, "compose": None}))
        with pytest.raises(PreflightFailed, match=r"vm1: .*no answer from the compose plugin"):
            preflight(stack_on(host, tmp_path), deadline("preflight"))

    def test_a_failing_facts_script_fails_preflight_with_the_fix(self, tmp_path: Path) -> None:
        host = FakeRunner().on('"facts":1', "", exit_status=127)
        with pytest.raises(PreflightFailed, match="Install docker and the compose v2 plugin"):
            preflight(stack_on(host, tmp_path), deadline("preflight"))

    def test_a_login_banner_on_stdout_is_a_facts_error_with_the_fix(self, tmp_path: Path) -> None:
        host = FakeRunner().on('"facts":1', "Welcome to vm1!\n" + json.dumps(ENGINE))
        with pytest.raises(FactsError, match="login shell prints nothing"):
            read_facts(stack_on(host, tmp_path), deadline())


class TestHealth:
    def test_compose_health_passes_on_running_services(self, tmp_path: Path) -> None:
        host = FakeRunner().on("ps --all --format json", ps())
        passed = checks.check(stack_on(host, tmp_path), ("app",), deadline("health"))
        assert passed == ["compose: 1 services running and healthy"]

    def test_an_exited_service_fails_the_step_naming_it(self, tmp_path: Path) -> None:
        host = FakeRunner().on("ps --all --format json", ps("exited"))
        with pytest.raises(HealthCheckFailed, match="vm1: unhealthy services: app"):
            checks.check(stack_on(host, tmp_path), ("app",), deadline("health"))

    def test_an_http_check_goes_through_the_host_s_tunnel(self, tmp_path: Path) -> None:
        http = {"url": "http://127.0.0.1:8080/ready", "attempts": 1}
        host = FakeRunner()
        hs = stack_on(host, tmp_path, health={"compose": False, "http": [http]})
        with pytest.raises(HealthCheckFailed, match=r"did not answer 200 after 1 attempts"):
            checks.check(hs, (), deadline("health"))
        assert host.asked == ["tunnel 127.0.0.1:8080"]

    def test_a_failing_hook_is_reported_with_its_stderr_masked(self, tmp_path: Path) -> None:
        hook = {"name": "smoke", "service": "app", "command": ["true"]}
        host = FakeRunner().on("exec", "", exit_status=3)
        hs = stack_on(host, tmp_path, health={"compose": False, "hooks": [hook]})
        with pytest.raises(HealthCheckFailed, match="hook smoke failed: exit 3"):
            checks.check(hs, (), deadline("health"))


class TestDiagnostics:
    def test_disk_ps_and_the_logs_of_failed_services(self, tmp_path: Path) -> None:
        host = FakeRunner().on("ps --all --format json", ps("exited")).on(" logs ", "boom\n")
        text = diagnostics.collect(stack_on(host, tmp_path), "up failed", deadline("diagnostics"))
        assert "## failure\nup failed" in text and "## logs (app)\nboom" in text
        assert [c.split()[0] for c in host.asked] == ["df", "docker", "docker"]

    def test_a_part_that_cannot_be_read_is_named_not_raised(self, tmp_path: Path) -> None:
        host = FakeRunner()
        spent = Deadline("diagnostics", 0)
        text = diagnostics.collect(stack_on(host, tmp_path), "lost", spent)
        assert "(not collected:" in text and host.asked == []


class TestRecordAndRollback:
    def hs(self, tmp_path: Path, host: FakeRunner) -> HostStack:
        return stack_on(host.on('"facts":1,"images"', RUNNING), tmp_path)

    def test_the_record_is_what_runs_after_up_and_closes_the_attempt(self, tmp_path: Path) -> None:
        host = FakeRunner()
        hs = self.hs(tmp_path, host)
        release = record.record(hs, hs.loaded.release, "run-1", "ci", "succeeded",
                                deadline("record"), {"app": IMAGE})  # fmt: skip
        assert release.images == {"app": IMAGE}
        assert release.services == {"app": {"id": APP_ID, "config_hash": "h1"}}
        appended = json.loads(host.stdins[1] or b"")
        assert appended["id"] == hs.loaded.release and appended["refs"] == {"app": IMAGE}
        assert "releases.jsonl" in host.asked[1] and "succeeded" in host.asked[2]

    def test_a_rolled_back_record_leaves_the_attempt_open(self, tmp_path: Path) -> None:
        host = FakeRunner()
        record.record(self.hs(tmp_path, host), "r-old", "run-1", "ci", "rolled_back",
                      deadline("record"))  # fmt: skip
        assert len(host.asked) == 2  # the read and the append; no attempt_close

    def test_rollback_closes_the_attempt_restores_files_and_retags_moved_images(
        self, tmp_path: Path
    ) -> None:
        moved = [{"id": "sha256:" + "0b" * 32, "tags": ["registry.local/app:v1"], "digests": []},
                 {"id": APP_ID, "tags": [], "digests": [IMAGE]}]  # fmt: skip
        facts = json.dumps({"facts": 1, "images": moved, "containers": []})
        host = FakeRunner().on("cat .*current", "r-new\n").on('"facts":1', facts)
        to = Release("r-old", "2026-01-01T00:00:00Z", "ci", "run-0", "succeeded", "h",
                     {"app": IMAGE}, refs={"app": "registry.local/app:v1"},
                     services={"app": {"id": APP_ID, "config_hash": "h1"}})  # fmt: skip
        notes = rollback.restore(stack_on(host, tmp_path), to, deadline("rollback"))
        assert "rolled_back" in host.asked[0]
        assert f"docker tag {APP_ID} registry.local/app:v1" in host.asked
        assert not any("images.override.yml" in a for a in host.asked)  # its image is here
        assert "up" in host.asked[-1]
        assert notes
