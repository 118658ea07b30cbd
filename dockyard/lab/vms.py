"""The lab's isolated VMs vm3..vmN: each a network and mount namespace with its own dockerd
and sshd, pulling from the lab registries through per-VM routes of a second fault proxy."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Protocol

from dockyard.lab import engine, netns, sshd
from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.layout import LabLayout
from dockyard.lab.procs import LabProcessError, port_open
from dockyard.lab.state import LabState
from dockyard.lab.vmspec import (
    REGISTRY_AUTH_PORT,
    REGISTRY_PORT,
    SSH_PORT,
    VmSpec,
    isolated_names,
    vm_spec,
)

PROXY_ROLE = "faultproxy-vms"


class LabHost(Protocol):
    """What the isolated VMs need of their lab (dockyard.lab.lab.Lab)."""

    layout: LabLayout
    state: LabState
    say: Callable[[str], None]

    def ensure(self, role: str, argv: list[str], port: int | None, ready: Callable[[], bool],
               env: dict[str, str] | None = None, timeout: float = 60) -> None: ...  # fmt: skip

    def reload(self) -> None: ...

    def save(self) -> None: ...


class LabVms:
    """Bring a lab's isolated VMs up and down; their names are kept in the lab state."""

    def __init__(self, lab: LabHost) -> None:
        self.lab = lab
        self.created_file = lab.layout.root / "vms" / "created.json"

    def created(self) -> list[str]:
        """The isolated VMs whose namespaces this lab created (kept apart from state.json)."""
        if not self.created_file.exists():
            return []
        return list(json.loads(self.created_file.read_text()))

    def _record(self, names: list[str]) -> None:
        self.created_file.parent.mkdir(parents=True, exist_ok=True)
        self.created_file.write_text(json.dumps(names))

    def specs(self) -> list[VmSpec]:
        """Every isolated VM this lab created, in VM order."""
        specs = [vm_spec(self.lab.layout.root, name) for name in self.created()]
        return sorted(specs, key=lambda vm: vm.number)

    def up(self, count: int) -> None:
        """Have vm3..vm`count` running; VMs already up are kept (a smaller count stops none)."""
        wanted = isolated_names(count)
        if not wanted and not self.created():
            return
        netns.require_binaries()
        control = self._ensure_proxy()
        for name in wanted:
            if name not in self.created():
                self._create(vm_spec(self.lab.layout.root, name))
        sshd.write_vm_known_hosts(self.lab.layout, [vm.ns_addr for vm in self.specs()])
        for vm in self.specs():
            self._start(vm, control)

    def _ensure_proxy(self) -> ProxyControl:
        ports = self.lab.layout.ports
        argv = [sys.executable, "-m", "dockyard.lab.faultproxy",
                "--control-port", str(ports.vm_proxy_control)]  # fmt: skip
        self.lab.ensure(PROXY_ROLE, argv, ports.vm_proxy_control,
                        lambda: port_open(ports.vm_proxy_control))  # fmt: skip
        return ProxyControl(self.lab.layout.vm_proxy_control_url)

    def _create(self, vm: VmSpec) -> None:
        if netns.exists(vm):
            raise LabProcessError(
                f"network namespace {vm.netns} exists but this lab did not create it; "
                f"remove it (`ip netns delete {vm.netns}`) or use another state directory"
            )
        self._record([*self.created(), vm.name])
        try:
            netns.create(vm)
        except LabProcessError:
            netns.delete(vm)
            raise
        self.lab.say(f"created {vm.name}: namespace {vm.netns}, address {vm.ns_addr}")

    def _start(self, vm: VmSpec, control: ProxyControl) -> None:
        if not netns.exists(vm):
            netns.create(vm)
        for path in (vm.srv, vm.docker_config / "cli-plugins"):
            path.mkdir(parents=True, exist_ok=True)
        plugin = vm.docker_config / "cli-plugins" / "docker-compose"
        if not plugin.is_symlink():
            plugin.symlink_to(self.lab.layout.compose_plugin)
        self._ensure_routes(vm, control)
        vm_root = self.lab.layout.vm_root
        self.lab.ensure(f"dockerd-{vm.name}", netns.enter(vm, vm_root, engine.vm_argv(vm)),
                        None, lambda: engine.ready(vm.docker_host), timeout=90)  # fmt: skip
        engine.ensure_network(vm.docker_host, engine.EXTERNAL_NETWORK)
        config = sshd.write_vm_config(self.lab.layout, vm)
        self.lab.ensure(f"sshd-{vm.name}", netns.enter(vm, vm_root, sshd.argv(config)), None,
                        lambda: port_open(SSH_PORT, host=vm.ns_addr))  # fmt: skip

    def _ensure_routes(self, vm: VmSpec, control: ProxyControl) -> None:
        ports = self.lab.layout.ports
        present = control.routes()
        for route, listen, target in (
            (vm.routes["registry"], REGISTRY_PORT, ports.registry_direct),
            (vm.routes["registry-auth"], REGISTRY_AUTH_PORT, ports.registry_auth_direct),
        ):
            if route not in present:
                control.add_route(route, listen, target, http=True, listen_host=vm.host_addr)

    def remove(self, name: str) -> None:
        """Stop one VM's sshd and dockerd, remove its namespace and veth, forget it."""
        self.lab.reload()
        vm = vm_spec(self.lab.layout.root, name)
        for role in (f"sshd-{vm.name}", f"dockerd-{vm.name}"):
            self._stop(role)
        netns.delete(vm)
        self._record([other for other in self.created() if other != vm.name])
        sshd.write_vm_known_hosts(self.lab.layout, [other.ns_addr for other in self.specs()])
        self.lab.say(f"removed {vm.name}: namespace {vm.netns}, veth {vm.host_if}")

    def down(self) -> None:
        """Remove every isolated VM, then stop their fault proxy."""
        for vm in reversed(self.specs()):
            self.remove(vm.name)
        self._stop(PROXY_ROLE)

    def _stop(self, role: str) -> None:
        proc = self.lab.state.processes.pop(role, None)
        if proc and proc.alive():
            proc.stop(timeout=30 if role.startswith("dockerd") else 10)
            self.lab.say(f"stopped {role} (pid {proc.pid})")
        self.lab.save()

    def describe(self) -> list[dict[str, object]]:
        """Every lab VM: how to reach it, its engine, and the proxy routes its traffic takes."""
        lay = self.lab.layout
        shared = [
            {
                "name": name,
                "ssh_host": "127.0.0.1",
                "ssh_port": port,
                "docker_host": lay.docker_host,
                "docker_config": str(lay.docker_config),
                "known_hosts": str(lay.known_hosts),
                "vm_root": str(lay.vm_root),
                "proxy_control": lay.proxy_control_url,
                "routes": {"ssh": route, "registry": "registry", "registry-auth": "registry-auth"},
                "running": self._alive(f"sshd-{name}", "dockerd"),
            }
            for name, port, route in (
                ("vm1", lay.ports.ssh, "ssh"),
                ("vm2", lay.ports.ssh2, "ssh2"),
            )
        ]
        isolated = [
            {
                "name": vm.name,
                "ssh_host": vm.ns_addr,
                "ssh_port": SSH_PORT,
                "docker_host": vm.docker_host,
                "docker_config": str(vm.docker_config),
                "known_hosts": str(lay.vm_known_hosts),
                "vm_root": str(vm.srv),
                "netns": vm.netns,
                "proxy_control": lay.vm_proxy_control_url,
                "routes": vm.routes,
                "running": self._alive(f"sshd-{vm.name}", f"dockerd-{vm.name}", PROXY_ROLE),
            }
            for vm in self.specs()
        ]
        return shared + isolated

    def _alive(self, *roles: str) -> bool:
        procs = self.lab.state.processes
        return all(role in procs and procs[role].alive() for role in roles)
