"""Names, addresses and paths of the lab's isolated VMs (vm3..vmN), derived from the VM number."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from dockyard.lab.procs import LabProcessError

FIRST_ISOLATED = 3
MAX_VMS = 254
LINK_NET = ipaddress.ip_network("10.215.0.0/16")
BRIDGE_NET = ipaddress.ip_network("10.216.0.0/16")
POOL_NET = ipaddress.ip_network("10.224.0.0/12")
REGISTRY_PORT = 5000
REGISTRY_AUTH_PORT = 5002
SSH_PORT = 22


@dataclass(frozen=True)
class VmSpec:
    """One isolated VM: its namespace, veth pair and addresses, engine ranges and files."""

    name: str
    number: int
    root: Path

    @property
    def netns(self) -> str:
        return f"dylab-{self.name}"

    @property
    def host_if(self) -> str:
        """The veth end on the host (interface names stay under 15 characters)."""
        return f"dyl{self.number}h"

    @property
    def ns_if(self) -> str:
        return f"dyl{self.number}n"

    @property
    def link(self) -> ipaddress.IPv4Network:
        """The /30 between host and VM: .1 on the host, .2 in the VM."""
        return ipaddress.IPv4Network(f"{LINK_NET.network_address + self.number * 256}/30")

    @property
    def host_addr(self) -> str:
        """The host side of the link: where the VM's registry routes listen."""
        return str(self.link.network_address + 1)

    @property
    def ns_addr(self) -> str:
        """The VM's address: its sshd listens here on port 22."""
        return str(self.link.network_address + 2)

    @property
    def bip(self) -> str:
        """The VM engine's docker0 address (inside the VM's namespace)."""
        return f"{BRIDGE_NET.network_address + self.number * 256 + 1}/24"

    @property
    def address_pool(self) -> dict[str, object]:
        """The VM engine's default-address-pools entry: a /20 of /24 networks of its own."""
        base = list(POOL_NET.subnets(new_prefix=20))[self.number]
        return {"base": str(base), "size": 24}

    @property
    def dir(self) -> Path:
        return self.root / "vms" / self.name

    @property
    def srv(self) -> Path:
        """Bound over /srv/dockyard-lab in the VM's mount namespace."""
        return self.dir / "srv"

    @property
    def docker_socket(self) -> Path:
        return self.dir / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def docker_config(self) -> Path:
        """DOCKER_CONFIG of the VM's sessions: its own logins, the lab's compose plugin."""
        return self.dir / "docker-config"

    @property
    def routes(self) -> dict[str, str]:
        """The VM's fault-proxy routes by the lab registry they lead to."""
        return {"registry": f"registry-{self.name}", "registry-auth": f"registry-auth-{self.name}"}


def vm_spec(root: Path, name: str) -> VmSpec:
    """The spec of isolated VM `name` (vm3, vm4, ...) under the lab state directory `root`."""
    number = int(name[2:]) if name.startswith("vm") and name[2:].isdigit() else 0
    if not FIRST_ISOLATED <= number <= MAX_VMS or name != f"vm{number}":
        raise LabProcessError(
            f"{name!r} is not an isolated lab VM; they are vm{FIRST_ISOLATED}..vm{MAX_VMS}"
        )
    return VmSpec(name, number, root)


def isolated_names(count: int) -> list[str]:
    """The isolated VMs a lab of `count` VMs has (vm1 and vm2 share the lab engine)."""
    if not 1 <= count <= MAX_VMS:
        raise LabProcessError(f"--vms {count}: the lab runs 1 to {MAX_VMS} VMs")
    return [f"vm{n}" for n in range(FIRST_ISOLATED, count + 1)]
