"""A lab VM's network: its namespace, the veth pair to the host, and 127.0.0.1:5000/5002 inside
it mapped (iptables DNAT) to the VM's fault-proxy routes on the host end of the veth."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

from dockyard.lab.procs import LabProcessError, require_programs, run_checked
from dockyard.lab.vmspec import REGISTRY_AUTH_PORT, REGISTRY_PORT, VmSpec

STEP_TIMEOUT = 10


def require_binaries() -> None:
    """Fail with the install command if the VM programs are missing."""
    require_programs(("ip", "iptables", "nsenter", "unshare"),
                     "apt-get install iproute2 iptables util-linux")  # fmt: skip


def exists(vm: VmSpec) -> bool:
    return Path(f"/run/netns/{vm.netns}").exists()


def _ip(*args: str) -> None:
    run_checked(["ip", *args], timeout=STEP_TIMEOUT)


def _in_ns(vm: VmSpec, *argv: str) -> None:
    run_checked(["ip", "netns", "exec", vm.netns, *argv], timeout=STEP_TIMEOUT)


def _nat_rules(vm: VmSpec) -> list[list[str]]:
    """Connections to 127.0.0.1:5000/5002 in the VM go to the host end of its veth (same
    ports), with the VM's address as source so replies come back over the veth."""
    rules = [
        ["OUTPUT", "-d", "127.0.0.1/32", "-p", "tcp", "--dport", str(port),
         "-j", "DNAT", "--to-destination", f"{vm.host_addr}:{port}"]
        for port in (REGISTRY_PORT, REGISTRY_AUTH_PORT)
    ]  # fmt: skip
    rules.append(["POSTROUTING", "-s", "127.0.0.1/32", "-d", f"{vm.host_addr}/32",
                  "-j", "SNAT", "--to-source", vm.ns_addr])  # fmt: skip
    return rules


def create(vm: VmSpec) -> None:
    """The namespace with lo up, the veth pair addressed, and the registry DNAT rules."""
    _ip("netns", "add", vm.netns)
    _ip("link", "add", vm.host_if, "type", "veth", "peer", "name", vm.ns_if)
    _ip("link", "set", vm.ns_if, "netns", vm.netns)
    _ip("addr", "add", f"{vm.host_addr}/{vm.link.prefixlen}", "dev", vm.host_if)
    _ip("link", "set", vm.host_if, "up")
    _ip("-n", vm.netns, "addr", "add", f"{vm.ns_addr}/{vm.link.prefixlen}", "dev", vm.ns_if)
    _ip("-n", vm.netns, "link", "set", vm.ns_if, "up")
    _ip("-n", vm.netns, "link", "set", "lo", "up")
    _in_ns(vm, "sysctl", "-q", "-w", "net.ipv4.conf.all.route_localnet=1")
    for rule in _nat_rules(vm):
        _in_ns(vm, "iptables", "-t", "nat", "-A", *rule)


def delete(vm: VmSpec) -> None:
    """Remove the veth pair and the namespace (its rules go with it); each may be gone."""
    with contextlib.suppress(LabProcessError):
        _ip("link", "delete", vm.host_if)
    with contextlib.suppress(LabProcessError):
        _ip("netns", "delete", vm.netns)


def enter(vm: VmSpec, vm_root: Path, argv: list[str]) -> list[str]:
    """`argv` run in the VM: its network namespace and a private mount namespace in which
    `vm_root` is a bind of the VM's own srv directory. Each wrapper execs the next (no fork),
    so the pid the lab records is the daemon's."""
    return [
        shutil.which("nsenter") or "nsenter",
        f"--net=/run/netns/{vm.netns}",
        shutil.which("unshare") or "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        'mount --bind "$1" "$2" && shift 2 && exec "$@"',
        "sh",
        str(vm.srv),
        str(vm_root),
        *argv,
    ]
