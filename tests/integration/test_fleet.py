"""The fleet on the lab's isolated VMs vm3..vm6: one engine each, registry bytes counted per VM,
and rollouts to 4 hosts (order, a failed canary stops, max_failed lets one failure through)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.lab import Lab
from dockyard.lab.vmspec import vm_spec
from tests.integration.conftest import lab_turn
from tests.integration.deploykit import (
    DOCKYARD,
    REPO,
    Deploy,
    PrefectServer,
    make_deploy,
    release_vars,
    unhealthy_in,
    vm_targets,
)

FLEET = ("vm3", "vm4", "vm5", "vm6")
SHOP = "label=com.docker.compose.project=shop"


@pytest.fixture(scope="session")
def fleet(lab: Lab) -> dict[str, dict[str, Any]]:
    """vm3..vm6 up (once per session; VMs already up are kept): name -> its LAB_VMS entry."""
    lab.up(vms=6)
    described = {vm["name"]: vm for vm in lab.vms.describe()}
    assert all(described[name]["running"] for name in FLEET), described
    return {name: described[name] for name in FLEET}


def _on_vm(vm: dict[str, Any], command: str, timeout: float = 120) -> str:
    """A shell command against the VM's engine (its DOCKER_HOST and DOCKER_CONFIG), from the
    host side; it must succeed."""
    env = {**os.environ, "DOCKER_HOST": vm["docker_host"], "DOCKER_CONFIG": vm["docker_config"]}
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)  # fmt: skip
    assert done.returncode == 0, f"{command} on {vm['name']}: {done.stderr[-1000:]}"
    return done.stdout


def _stack_containers(vm: dict[str, Any]) -> set[str]:
    return set(_on_vm(vm, f"docker ps -aq --no-trunc --filter {SHOP}").split())


def _version_over_link(deploy: Deploy, host: str) -> str:
    """The app's /version on the VM's own 127.0.0.1:18080, asked over dockyard's SSH link."""
    sets = [f"--set={k}={v}" for k, v in release_vars("v1").items()]
    argv = [DOCKYARD, "exec", "-c", str(deploy.config), *sets, "--host", host, "--", "sh", "-c",
            "wget -q -O- http://127.0.0.1:18080/version 2>/dev/null || "
            "curl -s http://127.0.0.1:18080/version"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=deploy.env,
                          cwd=REPO, stdin=subprocess.DEVNULL)  # fmt: skip
    return done.stdout.strip()


def _clean(deploy: Deploy, fleet: dict[str, dict[str, Any]], vm_proxy: ProxyControl) -> None:
    """No shop stack and no test remote dir on any fleet VM; the VM routes' faults cleared."""
    relative = Path(deploy.remote_dir).relative_to(deploy.lab.layout.vm_root)
    for vm in fleet.values():
        _on_vm(vm, "docker compose -p shop down --volumes --remove-orphans --timeout 2")
        shutil.rmtree(Path(vm["vm_root"]) / relative, ignore_errors=True)
        for route in vm["routes"].values():
            vm_proxy.clear_faults(route)


@pytest.fixture()
def vm_proxy(lab: Lab, fleet: dict[str, dict[str, Any]]) -> ProxyControl:
    return ProxyControl(lab.layout.vm_proxy_control_url)


@pytest.fixture()
def fleet_deploy(
    deploy: Deploy, fleet: dict[str, dict[str, Any]], vm_proxy: ProxyControl
) -> Iterator[Deploy]:
    """The test's deploy.yaml, its stack absent from every fleet VM before and after."""
    _clean(deploy, fleet, vm_proxy)
    yield deploy
    _clean(deploy, fleet, vm_proxy)


@pytest.fixture(scope="module")
def rollout_stack(
    lab: Lab, prefect_server: PrefectServer, fleet: dict[str, dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deploy]:  # fmt: skip
    """One stack (canary 1, batch 2, max_failed 0) shared in order: the four-VM rollout deploys
    v1 from nothing, the failing canary starts from the v1 it left (its own v1 deploy is then
    the no-op check, a full rollout when run alone). Absent before and after, under the lab's
    turn lock."""
    vm_proxy = ProxyControl(lab.layout.vm_proxy_control_url)
    with lab_turn():
        kit = make_deploy(lab, tmp_path_factory.mktemp("fleet"), prefect_server, "fleet-rollout",
                          _rollout(canary=1, batch=2, max_failed=0))  # fmt: skip
        unhealthy_in(kit.bundle)
        _clean(kit, fleet, vm_proxy)
    yield kit
    with lab_turn():
        _clean(kit, fleet, vm_proxy)


def _targets(doc: dict[str, Any]) -> None:
    """vm3..vm6 as the targets, each at its namespace address, port 22 (direct)."""
    vm_targets(doc, FLEET)


def _rollout(canary: int, batch: int, max_failed: int) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        _targets(doc)
        doc["rollout"] = {"canary": canary, "batch": batch, "max_failed": max_failed}

    return edit


@pytest.mark.deploy_config.with_args(_targets)
def test_each_vm_has_its_own_engine_and_its_pulls_pass_its_own_registry_route(
    fleet_deploy: Deploy, fleet: dict[str, dict[str, Any]], vm_proxy: ProxyControl
) -> None:
    vm3, vm4 = fleet["vm3"], fleet["vm4"]
    _on_vm(vm3, "docker image prune -af")
    assert _on_vm(vm3, "docker images -q") == ""
    for vm in (vm3, vm4):
        for route in vm["routes"].values():
            vm_proxy.reset_stats(route)
    done = fleet_deploy.run("deploy", "--json", "--host", "vm3", variables=release_vars("v1"))
    assert done.code == 0, done.stderr[-2000:]
    on_vm3 = _stack_containers(vm3)
    assert len(on_vm3) >= 5
    assert _stack_containers(vm4) == set()
    everywhere_else = _on_vm(fleet["vm4"], "docker ps -aq --no-trunc") + fleet_deploy.host(
        "docker ps -aq --no-trunc"
    )
    assert on_vm3.isdisjoint(everywhere_else.split())
    pulled = [i for i in done.host("vm3")["images"] if i["action"] == "pull"]
    plain = sum(i["bytes"] for i in pulled if i["image"].startswith("127.0.0.1:5000/"))
    auth = sum(i["bytes"] for i in pulled if i["image"].startswith("127.0.0.1:5002/"))
    assert plain > 0 and auth > 0, pulled
    assert vm_proxy.stats(vm3["routes"]["registry"])["down"] >= plain
    assert vm_proxy.stats(vm3["routes"]["registry-auth"])["down"] >= auth
    assert vm_proxy.stats(vm4["routes"]["registry"])["down"] == 0
    assert vm_proxy.stats(vm4["routes"]["registry-auth"])["down"] == 0
    assert _version_over_link(fleet_deploy, "vm3") == "v1"


def test_a_rollout_to_four_vms_runs_the_canary_then_batches_of_two(
    rollout_stack: Deploy,
) -> None:
    done = rollout_stack.deploy("v1")
    assert done.code == 0, done.stderr[-2000:]
    hosts = {name: done.host(name) for name in FLEET}
    assert {h["result"] for h in hosts.values()} == {"succeeded"}
    vm3, vm4, vm5, vm6 = (hosts[name] for name in FLEET)
    assert vm3["finished"] <= min(vm4["started"], vm5["started"])
    assert max(vm4["finished"], vm5["finished"]) <= vm6["started"]
    assert "rollout canary: the first 1 of 4 hosts" in vm3["notes"]
    for host in (vm4, vm5):
        assert "rollout batch 2: 2 of 4 hosts (batch 2)" in host["notes"]
    assert "rollout batch 3: 1 of 4 hosts (batch 2)" in vm6["notes"]
    assert {name: _version_over_link(rollout_stack, name) for name in FLEET} == dict.fromkeys(
        FLEET, "v1"
    )


def test_a_canary_failing_health_leaves_the_other_three_on_the_old_release(
    rollout_stack: Deploy, fleet: dict[str, dict[str, Any]]
) -> None:
    first = rollout_stack.deploy("v1")
    assert first.code == 0, first.stderr[-2000:]
    before = {name: _stack_containers(fleet[name]) for name in FLEET}
    broken = rollout_stack.deploy("broken", migration="v2")
    assert broken.code == 1
    assert broken.host("vm3")["result"] == "rolled_back"
    assert broken.report["not_started"] == ["vm4", "vm5", "vm6"]
    for name in ("vm4", "vm5", "vm6"):
        host = broken.host(name)
        assert (host["result"], host["steps"], host["started"]) == ("not started", [], "")
        assert _stack_containers(fleet[name]) == before[name]  # not a container replaced
    assert {name: _version_over_link(rollout_stack, name) for name in FLEET} == dict.fromkeys(
        FLEET, "v1"
    )


@pytest.mark.deploy_config.with_args(_rollout(canary=1, batch=1, max_failed=1))
def test_max_failed_one_lets_one_failed_host_through_and_stops_at_the_second(
    fleet_deploy: Deploy, fleet: dict[str, dict[str, Any]], vm_proxy: ProxyControl
) -> None:
    for name in ("vm4", "vm5"):  # their pulls must reach the registry, which refuses them
        _on_vm(fleet[name], "docker image prune -af")
        vm_proxy.set_faults(fleet[name]["routes"]["registry"], http_503={"count": 10_000})
    done = fleet_deploy.deploy("v1")
    assert done.code == 1
    results = {name: done.host(name)["result"] for name in FLEET}
    assert results == {"vm3": "succeeded", "vm4": "failed", "vm5": "failed",
                       "vm6": "not started"}  # fmt: skip
    assert done.host("vm4")["finished"] <= done.host("vm5")["started"]  # vm5 ran after 1 failure
    assert done.report["not_started"] == ["vm6"]
    assert any("more than max_failed 1" in line for line in done.report["rollout"]), done.report[
        "rollout"
    ]
    assert _stack_containers(fleet["vm6"]) == set()
    assert _version_over_link(fleet_deploy, "vm3") == "v1"


def test_a_vm_removed_takes_only_its_own_daemons_namespace_and_veth_and_comes_back(
    lab: Lab, fleet: dict[str, dict[str, Any]], vm_proxy: ProxyControl
) -> None:
    lab.up(vms=7)
    vm7 = vm_spec(lab.layout.root, "vm7")
    roles = (f"dockerd-{vm7.name}", f"sshd-{vm7.name}")
    procs = [lab.state.processes[role] for role in roles]
    assert all(proc.alive() for proc in procs)
    assert Path(f"/run/netns/{vm7.netns}").exists()
    lab.vms.remove("vm7")
    assert not any(proc.alive() for proc in procs)
    assert not Path(f"/run/netns/{vm7.netns}").exists()
    assert subprocess.run(["ip", "link", "show", vm7.host_if], capture_output=True,
                          timeout=10).returncode != 0  # fmt: skip
    assert "vm7" not in lab.vms.created()
    assert vm7.ns_addr not in lab.layout.vm_known_hosts.read_text()
    assert lab.running()
    assert all(vm["running"] for vm in lab.vms.describe() if vm["name"] in FLEET)
    lab.up(vms=7)
    again = {vm["name"]: vm for vm in lab.vms.describe()}["vm7"]
    assert again["running"]
    vm_proxy.reset_stats(again["routes"]["registry"])
    _on_vm(again, "docker rmi -f 127.0.0.1:5000/dockyard/busybox; "
                  "docker pull -q 127.0.0.1:5000/dockyard/busybox")  # fmt: skip
    assert vm_proxy.stats(again["routes"]["registry"])["down"] > 0
