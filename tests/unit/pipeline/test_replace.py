"""Start-first replacement decisions against a fake host that keeps a service's containers."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dockyard.commands import replace as cmd
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.pipeline.ready import pick_address
from dockyard.pipeline.replace import Container, ReplaceFailed, parse_state, replace_service
from dockyard.ssh.link import RunResult
from tests.fakes import FakeRunner
from tests.unit.stackkit import stack_on

NEW, OLD, IMG = "h-new", "h-old", "sha256:img"


@dataclass
class Host:
    """The containers of service `app`: id -> [number, hash, status, health]; `health` is what
    a new container reports when waited on; `log` every action in order."""

    containers: dict[str, list[str]] = field(default_factory=dict)
    health: int = cmd.HEALTHY
    log: list[str] = field(default_factory=list)
    serving_low: int = 99

    def add(self, cid: str, number: int, config_hash: str, health: str = "healthy") -> None:
        self.containers[cid] = [str(number), config_hash, "running", health]

    def healthy(self) -> int:
        return sum(1 for c in self.containers.values() if c[3] == "healthy")

    def state(self, text: str, stdin: bytes | None) -> RunResult:
        lines = [f"hash app {NEW}", f"image {IMG}"]
        lines += [f"ctr {cid} {n} {h} {IMG} {s} {hl}" for cid, (n, h, s, hl) in
                  self.containers.items()]  # fmt: skip
        return RunResult(0, "\n".join(lines), "")

    def scale(self, text: str, stdin: bytes | None) -> RunResult:
        count = int(re.search(r"app=(\d+)", text).group(1))
        assert count == len(self.containers) + 1
        number = max((int(c[0]) for c in self.containers.values()), default=0) + 1
        self.add(f"c{number}", number, NEW, "starting")
        self.log.append(f"start c{number}")
        return RunResult(0, "", "")

    def wait(self, text: str, stdin: bytes | None) -> RunResult:
        cid = re.search(r"docker inspect --format .* (\S+)\) \|\|", text).group(1)
        if self.health == cmd.HEALTHY:
            self.containers[cid][3] = "healthy"
        self.log.append(f"wait {cid}")
        return RunResult(self.health, "", "")

    def drain(self, text: str, stdin: bytes | None) -> RunResult:
        cid = re.search(r"docker stop --time 10 (\S+)", text).group(1)
        self.serving_low = min(self.serving_low, self.healthy() - 1)
        del self.containers[cid]
        self.log.append(f"drain {cid}")
        return RunResult(0, "", "")

    def remove(self, text: str, stdin: bytes | None) -> RunResult:
        cid = text.split()[-1]
        del self.containers[cid]
        self.log.append(f"remove {cid}")
        return RunResult(0, "", "")

    def runner(self) -> FakeRunner:
        return (FakeRunner().on(r"config --hash", self.state).on(r"--scale app=", self.scale)
                .on(r"^i=0; while", self.wait).on(r"docker stop --time", self.drain)
                .on(r"^docker rm --force", self.remove)
                .on(r"log tail", "{\"Status\":\"unhealthy\",\"Log\":[{\"Output\":\"no /health\"}]}"
                    "\n--- log tail\nserving v9"))  # fmt: skip


def _run(host: Host, tmp_path: Path, count: int = 1, **up: object):
    hs = stack_on(host.runner(), tmp_path, up={"start_first": ["app"], **up})
    return replace_service(hs, hs.runs_on, Deadline("t", 60), "app", "app:v2", count)


def test_one_container_is_replaced_new_beside_old(tmp_path: Path) -> None:
    host = Host()
    host.add("c1", 1, OLD)
    done = _run(host, tmp_path)
    assert host.log == ["start c2", "wait c2", "drain c1"]
    assert list(host.containers) == ["c2"] and host.serving_low >= 1
    assert done.replaced == 1 and "old drained" in done.note()


def test_two_replicas_never_drop_below_two_healthy(tmp_path: Path) -> None:
    host = Host()
    host.add("c1", 1, OLD)
    host.add("c2", 2, OLD)
    _run(host, tmp_path, count=2)
    assert host.log == ["start c3", "wait c3", "drain c1", "start c4", "wait c4", "drain c2"]
    assert sorted(host.containers) == ["c3", "c4"] and host.serving_low >= 2


def test_unchanged_service_is_left_alone(tmp_path: Path) -> None:
    host = Host()
    host.add("c1", 1, NEW)
    done = _run(host, tmp_path)
    assert host.log == [] and done.replaced == 0


def test_unhealthy_new_container_is_removed_and_old_keeps_serving(tmp_path: Path) -> None:
    host = Host(health=cmd.UNHEALTHY)
    host.add("c1", 1, OLD)
    with pytest.raises(ReplaceFailed) as failed:
        _run(host, tmp_path)
    assert host.log == ["start c2", "wait c2", "remove c2"]
    assert list(host.containers) == ["c1"]
    text = str(failed.value)
    assert "became unhealthy" in text and "no /health" in text and "serving v9" in text
    assert "old one keeps serving" in text


def test_service_without_healthcheck_is_refused_with_the_fix(tmp_path: Path) -> None:
    host = Host(health=cmd.NO_HEALTHCHECK)
    host.add("c1", 1, OLD)
    with pytest.raises(
        ReplaceFailed, match=r"add a healthcheck to the service or an up\.http_check"
    ):
        _run(host, tmp_path)
    assert list(host.containers) == ["c1"]


class _Answer:
    """A direct-tcpip channel to the new container that answers one canned response."""

    def __init__(self, reply: bytes) -> None:
        self.reply, self.sent = reply, b""

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def makefile(self, mode: str = "rb") -> io.BufferedReader:
        return io.BufferedReader(io.BytesIO(self.reply))

    def close(self) -> None:
        pass


def _with_http(host: Host, tmp_path: Path, reply: bytes | None, **up: object):
    runner = host.runner().on(r"NetworkSettings", "edge 10.9.0.3\nshop_default 10.9.1.7\n")
    if reply is not None:
        runner.tunnels[("10.9.1.7", 8080)] = _Answer(reply)
    check = {"app": {"port": 8080, "path": "/ready", "timeout": "1s"}}
    hs = stack_on(runner, tmp_path, up={"start_first": ["app"], "http_check": check,
                                        "wait_timeout": "1s", **up})  # fmt: skip
    return runner, replace_service(hs, runner, Deadline("t", 60), "app", "app:v2", 1)


def test_http_check_stands_in_for_a_missing_healthcheck(tmp_path: Path) -> None:
    host = Host(health=cmd.NO_HEALTHCHECK)
    host.add("c1", 1, OLD)
    runner, done = _with_http(host, tmp_path, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert host.log == ["start c2", "wait c2", "drain c1"] and done.replaced == 1
    assert "tunnel 10.9.1.7:8080" in runner.asked
    assert runner.tunnels[("10.9.1.7", 8080)].sent.startswith(b"GET /ready HTTP/1.1")


def test_http_check_that_never_passes_removes_the_new_one_naming_the_url(tmp_path: Path) -> None:
    host = Host(health=cmd.NO_HEALTHCHECK)
    host.add("c1", 1, OLD)
    with pytest.raises(ReplaceFailed) as failed:
        _with_http(host, tmp_path, b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
    assert host.log == ["start c2", "wait c2", "remove c2"] and list(host.containers) == ["c1"]
    text = str(failed.value)
    assert "did not answer 200 at http://10.9.1.7:8080/ready" in text
    assert "last attempt: status 503" in text and "serving v9" in text
    assert "old one keeps serving" in text


def test_http_check_refused_connection_is_the_last_outcome(tmp_path: Path) -> None:
    host = Host(health=cmd.NO_HEALTHCHECK)
    host.add("c1", 1, OLD)
    with pytest.raises(ReplaceFailed, match=r"last attempt: ConnectionRefusedError"):
        _with_http(host, tmp_path, None)
    assert list(host.containers) == ["c1"]


def test_with_both_the_healthcheck_and_the_http_check_must_pass(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    host = Host(health=cmd.UNHEALTHY)
    host.add("c1", 1, OLD)
    with pytest.raises(ReplaceFailed, match="became unhealthy"):
        _with_http(host, tmp_path / "a", b"HTTP/1.1 200 OK\r\n\r\n")
    host = Host()
    host.add("c1", 1, OLD)
    with pytest.raises(ReplaceFailed, match="last attempt: status 404"):
        _with_http(host, tmp_path / "b", b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    assert list(host.containers) == ["c1"]


def test_pick_address_prefers_the_project_s_default_network() -> None:
    assert pick_address("edge 10.9.0.3\nshop_default 10.9.1.7\n", "shop") == "10.9.1.7"
    assert pick_address("b 10.0.0.2\na 10.0.0.1\nc <no value>\n", "shop") == "10.0.0.1"
    with pytest.raises(DeployError, match="no IP address"):
        pick_address("none \n", "shop")


def test_healthy_leftover_of_a_killed_run_lets_the_old_one_go(tmp_path: Path) -> None:
    host = Host()
    host.add("c1", 1, OLD)
    host.add("c2", 2, NEW)
    done = _run(host, tmp_path)
    assert host.log == ["drain c1"] and list(host.containers) == ["c2"]
    assert done.replaced == 1


def test_unhealthy_leftover_of_a_killed_run_is_removed_then_replaced(tmp_path: Path) -> None:
    host = Host()
    host.add("c1", 1, OLD)
    host.add("c2", 2, NEW, "starting")
    done = _run(host, tmp_path)
    assert host.log == ["remove c2", "start c2", "wait c2", "drain c1"]
    assert list(host.containers) == ["c2"] and done.removed_leftovers == 1


def test_pre_stop_drain_and_proxy_reload_are_run(tmp_path: Path) -> None:
    host = Host()
    host.add("c1", 1, OLD)
    runner = host.runner()
    up = {
        "start_first": ["app"],
        "drain": "2s",
        "pre_stop": {"app": ["kill", "-QUIT", "1"]},
        "reload": {"service": "proxy", "command": ["reload"]},
    }
    hs = stack_on(runner, tmp_path, up=up)
    replace_service(hs, runner, Deadline("t", 60), "app", "app:v2", 1)
    drained = next(a for a in runner.asked if "docker stop" in a)
    assert drained.startswith("docker exec c1 kill -QUIT 1") and "sleep 2;" in drained
    assert "exec -T proxy reload" in runner.asked[-1]


def test_parse_state_reads_hash_image_and_containers() -> None:
    state = parse_state(f"hash app {NEW}\nimage -\nctr b 2 {NEW} sha256:x running healthy\n"
                        f"ctr a 1 {OLD} sha256:y exited none\n")  # fmt: skip
    assert state.config_hash == NEW and state.image == "-"
    assert [c.id for c in state.containers] == ["a", "b"]
    assert state.current(state.containers[1]) and not state.current(state.containers[0])
    assert state.containers[1] == Container("b", 2, NEW, "sha256:x", "running", "healthy")


def test_a_moved_image_is_a_change_even_with_the_same_hash() -> None:
    state = parse_state(
        f"hash app {NEW}\nimage sha256:new\nctr a 1 {NEW} sha256:old running healthy"
    )
    assert not state.current(state.containers[0])


def test_no_hash_is_an_error() -> None:
    with pytest.raises(DeployError, match="no config hash"):
        parse_state("image -\n")
