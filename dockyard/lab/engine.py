"""The lab's Docker engine: Debian's dockerd with its own data root, socket and bridge."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import docker

from dockyard.lab.layout import LabLayout
from dockyard.lab.procs import LabProcessError, require_programs, run_checked
from dockyard.lab.vmspec import VmSpec

EXTERNAL_NETWORK = "edge"
BRIDGE_CIDR = "10.213.0.1/24"
ADDRESS_POOL = {"base": "10.214.0.0/16", "size": 24}


def require_binaries() -> None:
    """Fail with the install command if the engine's programs are missing."""
    require_programs(("dockerd", "docker", "containerd", "ip"),
                     "apt-get install docker.io iproute2", " (as root)")  # fmt: skip


def ready(docker_host: str) -> bool:
    """True when the engine on `docker_host` answers a ping (3 s bound)."""
    try:
        client = docker.DockerClient(base_url=docker_host, timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except docker.errors.DockerException:
        return False


def ensure_network(docker_host: str, name: str) -> None:
    """Create the bridge network `name` on that engine unless it exists (30 s bound)."""
    client = docker.DockerClient(base_url=docker_host, timeout=30)
    try:
        if not client.networks.list(names=[name]):
            client.networks.create(name, driver="bridge")
    finally:
        client.close()


def ensure_bridge(name: str) -> bool:
    """Create the lab's bridge if absent; True if this call created it."""
    try:
        run_checked(["ip", "link", "show", name], timeout=10)
        return False
    except LabProcessError:
        pass
    run_checked(["ip", "link", "add", name, "type", "bridge"], timeout=10)
    run_checked(["ip", "addr", "add", BRIDGE_CIDR, "dev", name], timeout=10)
    run_checked(["ip", "link", "set", name, "up"], timeout=10)
    return True


def delete_bridge(name: str) -> None:
    """Remove the lab's bridge (only ever called for one the lab created)."""
    with contextlib.suppress(LabProcessError):
        run_checked(["ip", "link", "delete", name], timeout=10)


def _dockerd(root: Path, config: dict[str, object], host: str, *extra: str) -> list[str]:
    """dockerd with its config, data root, exec root and pidfile under `root`."""
    config_file = root / "daemon.json"
    config_file.write_text(json.dumps(config))
    return [
        shutil.which("dockerd") or "dockerd",
        "--config-file",
        str(config_file),
        "--data-root",
        str(root / "docker"),
        "--exec-root",
        str(root / "run"),
        "--host",
        host,
        "--pidfile",
        str(root / "dockerd.pid"),
        "--storage-driver",
        "overlay2",
        *extra,
    ]


def argv(layout: LabLayout) -> list[str]:
    """The dockerd command line for this lab."""
    config = {"default-address-pools": [ADDRESS_POOL]}
    return _dockerd(layout.root, config, layout.docker_host, "--bridge", layout.bridge)


def vm_argv(vm: VmSpec) -> list[str]:
    """The dockerd command line of an isolated VM (run inside its namespaces): its own
    docker0 and address pool, which only exist in the VM's network namespace."""
    config = {"default-address-pools": [vm.address_pool], "bip": vm.bip}
    return _dockerd(vm.dir, config, vm.docker_host)
