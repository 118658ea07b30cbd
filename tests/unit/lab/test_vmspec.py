"""The isolated lab VMs' names, addresses and ranges: distinct per VM, clear of the lab's own."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from dockyard.lab.engine import ADDRESS_POOL, BRIDGE_CIDR
from dockyard.lab.procs import LabProcessError
from dockyard.lab.vmspec import MAX_VMS, isolated_names, vm_spec

ROOT = Path("/lab")


def vm_pool(pool: dict[str, object]) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(str(pool["base"]))


def test_vm3_gets_its_link_bridge_pool_and_files() -> None:
    vm = vm_spec(ROOT, "vm3")
    assert (vm.netns, vm.host_if, vm.ns_if) == ("dylab-vm3", "dyl3h", "dyl3n")
    assert (str(vm.link), vm.host_addr, vm.ns_addr) == ("10.215.3.0/30", "10.215.3.1", "10.215.3.2")
    assert vm.bip == "10.216.3.1/24"
    assert vm.address_pool == {"base": "10.224.48.0/20", "size": 24}
    assert vm.docker_host == "unix:///lab/vms/vm3/docker.sock"
    assert vm.srv == Path("/lab/vms/vm3/srv")
    assert vm.routes == {"registry": "registry-vm3", "registry-auth": "registry-auth-vm3"}


def test_no_two_vms_and_not_the_lab_engine_share_a_range_or_a_name() -> None:
    vms = [vm_spec(ROOT, name) for name in isolated_names(MAX_VMS)]
    lab_nets = [
        ipaddress.ip_interface(BRIDGE_CIDR).network,
        ipaddress.ip_network(ADDRESS_POOL["base"]),
    ]
    nets = [
        net
        for vm in vms
        for net in (vm.link, ipaddress.ip_interface(vm.bip).network, vm_pool(vm.address_pool))
    ]
    everything = nets + lab_nets
    for i, net in enumerate(everything):
        assert not any(net.overlaps(other) for other in everything[i + 1 :]), net
    names = [n for vm in vms for n in (vm.netns, vm.host_if, vm.ns_if)]
    assert len(set(names)) == len(names)
    assert max(len(vm.host_if) for vm in vms) <= 15  # the kernel's interface name limit


def test_a_lab_of_n_vms_has_vm3_to_vmn_isolated() -> None:
    assert isolated_names(2) == []
    assert isolated_names(1) == []
    assert isolated_names(6) == ["vm3", "vm4", "vm5", "vm6"]


@pytest.mark.parametrize("name", ["vm1", "vm2", "vm255", "vm03", "web3", "vm"])
def test_names_that_are_not_isolated_vms_are_refused(name: str) -> None:
    with pytest.raises(LabProcessError, match="not an isolated lab VM"):
        vm_spec(ROOT, name)


@pytest.mark.parametrize("count", [0, MAX_VMS + 1])
def test_vm_counts_out_of_range_are_refused(count: int) -> None:
    with pytest.raises(LabProcessError, match="--vms"):
        isolated_names(count)
