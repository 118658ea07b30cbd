"""The start-first replacement commands: their strings, and the wait and drain scripts run by
sh against a stand-in `docker` that answers from a file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from dockyard.commands import replace as cmd
from dockyard.commands.compose import ComposeProject

SHOP = ComposeProject("shop", "/opt/shop")


def _sh(
    tmp_path: Path, script: str, answers: list[str], fail: str = "none"
) -> tuple[int, str, str]:
    """Run `script` with a `docker` that prints the next line of `answers` per call (exit 1
    once they are used up, or for the subcommand `fail`) and logs its argv."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "answers").write_text("".join(a + "\n" for a in answers))
    docker = bin_dir / "docker"
    docker.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path}/calls\n'
        f'[ "$1" = {fail} ] && exit 1\n'
        f'a={tmp_path}/answers; l=$(head -n1 "$a"); [ -s "$a" ] || exit 1\n'
        'sed -i 1d "$a"; echo "$l"\n'
    )
    docker.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=20)
    calls = (tmp_path / "calls").read_text() if (tmp_path / "calls").exists() else ""
    return done.returncode, calls, done.stderr


def test_scale_up_keeps_the_others_and_the_dependencies() -> None:
    argv = cmd.scale_up(SHOP, "app", 3)
    assert argv[-3:] == ["--scale", "app=3", "app"]
    assert {"--no-recreate", "--no-deps", "--detach"} <= set(argv)
    assert "--remove-orphans" not in argv and "--wait" not in argv
    assert argv[argv.index("--pull") + 1] == "never"


def test_service_state_asks_compose_for_the_hash_and_lists_only_the_service() -> None:
    script = cmd.service_state(SHOP, "app", "reg/app:v2")
    assert "config --hash app" in script
    assert "label=com.docker.compose.service=app" in script
    assert "label=com.docker.compose.project=shop" in script
    assert "com.docker.compose.oneoff=False" in script
    assert "docker image inspect --format '{{.Id}}' reg/app:v2" in script


def test_wait_healthy_exits_on_each_outcome(tmp_path: Path) -> None:
    script = cmd.wait_healthy("c2", 5)
    assert _sh(tmp_path, script, ["running starting", "running healthy"])[0] == cmd.HEALTHY
    assert _sh(tmp_path, script, ["running starting", "running unhealthy"])[0] == cmd.UNHEALTHY
    assert _sh(tmp_path, script, ["exited none"])[0] == cmd.UNHEALTHY
    assert _sh(tmp_path, script, ["running none"])[0] == cmd.NO_HEALTHCHECK
    assert _sh(tmp_path, script, [])[0] == cmd.GONE


def test_wait_healthy_gives_up_after_its_bound(tmp_path: Path) -> None:
    status, calls, _ = _sh(tmp_path, cmd.wait_healthy("c2", 1), ["running starting"] * 10)
    assert status == cmd.TIMED_OUT and calls.count("inspect") == 6


def test_drain_runs_pre_stop_waits_then_stops_and_removes(tmp_path: Path) -> None:
    script = cmd.drain("c1", ["kill", "-QUIT", "1"], 0.1)
    status, calls, _ = _sh(tmp_path, script, ["", "", ""])
    assert status == 0
    assert calls.splitlines() == ["exec c1 kill -QUIT 1", "stop --time 10 c1", "rm c1"]


def test_a_failed_pre_stop_still_drains(tmp_path: Path) -> None:
    script = cmd.drain("c1", ["nginx", "-s", "quit"], 0)
    status, calls, stderr = _sh(tmp_path, script, ["", ""], fail="exec")
    assert status == 0 and "pre_stop failed" in stderr
    assert calls.splitlines()[1:] == ["stop --time 10 c1", "rm c1"]
    assert "sleep" not in script


def test_failure_report_and_remove() -> None:
    assert "json .State.Health" in cmd.failure_report("c2")
    assert "docker logs --tail 30 c2" in cmd.failure_report("c2")
    assert cmd.remove("c2") == ["docker", "rm", "--force", "c2"]
