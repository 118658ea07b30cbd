"""Bring the lab up and down: engine, registries, sshd, fault proxy and images, tracked by pid."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import docker

from dockyard.lab import compose_plugin, engine, registry, sshd
from dockyard.lab.caddy import caddy_image
from dockyard.lab.catalog import lab_images
from dockyard.lab.images import RegistryPusher, SyntheticImage, build
from dockyard.lab.layout import LabLayout
from dockyard.lab.procs import (
    LabProcessError,
    port_open,
    run_checked,
    spawn,
    wait_until,
)
from dockyard.lab.state import LabState
from dockyard.lab.vms import LabVms


class Lab:
    """One lab under one state directory."""

    def __init__(self, layout: LabLayout, say: Callable[[str], None] = print) -> None:
        self.layout = layout
        self.say = say
        self.state = LabState.load(layout.state_file)
        self.vms = LabVms(self)

    def reload(self) -> None:
        """Read state.json again (another lab process may have changed it since)."""
        self.state = LabState.load(self.layout.state_file)

    def save(self) -> None:
        """Write the state (processes, bridge, images) to state.json."""
        self.state.save(self.layout.state_file)

    def _check_prerequisites(self) -> None:
        if os.geteuid() != 0:
            raise LabProcessError(
                "the lab needs root (dockerd, its bridge and sshd); run it as root or with sudo"
            )
        engine.require_binaries()
        registry.require_binary()
        sshd.require_binaries()

    def ensure(
        self,
        role: str,
        argv: list[str],
        port: int | None,
        ready: Callable[[], bool],
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> None:
        """Start `role` unless the process this lab started for it is still alive."""
        known = self.state.processes.get(role)
        if known and known.alive():
            return
        if known:
            self.say(
                f"{role} (pid {known.pid}) from the previous lab had exited; starting it again"
            )
        if port is not None and port_open(port):
            raise LabProcessError(
                f"port {port} (for {role}) is taken by a process this lab did not start; "
                f"stop it (`ss -ltnp 'sport = :{port}'` shows which), then `dockyard lab up` again"
            )
        log = self.layout.logs / f"{role}.log"
        proc = spawn(role, argv, log, env)
        self.state.processes[role] = proc
        self.state.save(self.layout.state_file)
        wait_until(ready, role, proc, log, timeout)
        self.say(f"started {role} (pid {proc.pid})")

    def up(self, vms: int = 2) -> None:
        """Start everything that is not running, and the isolated VMs vm3..vm`vms`;
        idempotent and fast when all is up."""
        self._check_prerequisites()
        self.reload()
        lay = self.layout
        ports = lay.ports
        lay.root.mkdir(parents=True, exist_ok=True)
        lay.vm_root.mkdir(parents=True, exist_ok=True)
        compose_plugin.install(lay.compose_plugin, lay.root / "cache")
        if engine.ensure_bridge(lay.bridge):
            self.state.created_bridge = True
        self.ensure("dockerd", engine.argv(lay), None, self._engine_ready, timeout=90)
        engine.ensure_network(lay.docker_host, engine.EXTERNAL_NETWORK)
        htpasswd, _ = registry.ensure_credentials(lay.registry_dir / "auth")
        for role, port, auth in (
            ("registry", ports.registry_direct, None),
            ("registry-auth", ports.registry_auth_direct, htpasswd),
        ):
            config = registry.write_config(lay.registry_dir / role, port, auth)
            argv = [registry.require_binary(), "serve", str(config)]
            self.ensure(role, argv, port, lambda p=port: port_open(p))
        sshd.ensure_keys(lay)
        for vm, port in (("vm1", ports.sshd), ("vm2", ports.sshd2)):
            argv = sshd.argv(sshd.write_config(lay, vm, port))
            self.ensure(f"sshd-{vm}", argv, port, lambda p=port: port_open(p))
        self.ensure(
            "faultproxy",
            self._proxy_argv(),
            ports.proxy_control,
            lambda: port_open(ports.proxy_control),
        )
        self._push_images()
        self.save()
        self.vms.up(vms)

    def _proxy_argv(self) -> list[str]:
        p = self.layout.ports
        return [
            sys.executable,
            "-m",
            "dockyard.lab.faultproxy",
            "--control-port",
            str(p.proxy_control),
            "--route",
            f"ssh={p.ssh}:{p.sshd}",
            "--route",
            f"ssh2={p.ssh2}:{p.sshd2}",
            "--route",
            f"registry={p.registry}:{p.registry_direct}:http",
            "--route",
            f"registry-auth={p.registry_auth}:{p.registry_auth_direct}:http",
        ]

    def engine_client(self, timeout: float = 30) -> docker.DockerClient:
        """A docker-py client on the lab engine's local socket (lab set-up only)."""
        return docker.DockerClient(base_url=self.layout.docker_host, timeout=timeout)

    def _engine_ready(self) -> bool:
        return self.layout.docker_socket.exists() and engine.ready(self.layout.docker_host)

    def registry_password(self) -> str:
        """The auth registry's password (generated at first `up`, stored 0600)."""
        return (self.layout.registry_dir / "auth" / "password").read_text().strip()

    def pushed_images(self) -> list[SyntheticImage]:
        """Every image `up` pushes: the synthetic catalog and the caddy proxy image."""
        return [*lab_images(), caddy_image(self.layout.root / "cache")]

    def _push_images(self) -> None:
        """Push every catalog image that the registry does not already serve at its digest."""
        ports = self.layout.ports
        plain = RegistryPusher(f"http://127.0.0.1:{ports.registry_direct}")
        auth = RegistryPusher(
            f"http://127.0.0.1:{ports.registry_auth_direct}",
            auth=(registry.AUTH_USER, self.registry_password()),
        )
        with plain, auth:
            for spec in self.pushed_images():
                pusher = auth if spec.registry == "auth" else plain
                built = build(spec)
                reference = spec.tag or built.digest
                if pusher.manifest_digest(spec.repository, reference) != built.digest:
                    pusher.push(built)
                    self.say(f"pushed {spec.repository}:{reference} ({built.size // 1024} KiB)")
                self.state.images[f"{spec.repository}:{reference}"] = built.digest

    def down(self) -> None:
        """Stop exactly what `up` started (by pid), unmount leftovers, delete our bridges."""
        self.vms.down()
        bridges = self._engine_bridges()
        for role in reversed(list(self.state.processes)):
            proc = self.state.processes[role]
            if proc.alive():
                proc.stop(timeout=30 if role == "dockerd" else 10)
                self.say(f"stopped {role} (pid {proc.pid})")
        self._unmount_leftovers()
        if self.state.created_bridge:
            bridges.append(self.layout.bridge)
        for bridge in bridges:
            engine.delete_bridge(bridge)
        self.state.processes.clear()
        self.state.created_bridge = False
        self.state.save(self.layout.state_file)

    def _engine_bridges(self) -> list[str]:
        """Bridge interfaces of user networks on the lab engine (deleted on down)."""
        dockerd = self.state.processes.get("dockerd")
        if not (dockerd and dockerd.alive() and self._engine_ready()):
            return []
        client = self.engine_client()
        try:
            nets = client.networks.list(filters={"driver": "bridge"})
        finally:
            client.close()
        return [f"br-{n.id[:12]}" for n in nets if n.name != "bridge"]

    def _unmount_leftovers(self) -> None:
        root = str(self.layout.root)
        mounts = [
            line.split()[1]
            for line in Path("/proc/mounts").read_text().splitlines()
            if line.split()[1].startswith(root)
        ]
        for mount in sorted(mounts, key=len, reverse=True):
            with contextlib.suppress(LabProcessError):
                run_checked(["umount", "-l", mount], timeout=30)

    def status(self) -> dict[str, object]:
        """Each role with its pid and whether it runs; plus the ports."""
        return {
            "state_dir": str(self.layout.root),
            "processes": {
                role: {"pid": p.pid, "running": p.alive()}
                for role, p in self.state.processes.items()
            },
            "ports": self.layout.ports.all(),
            "vms": self.vms.describe(),
        }

    def running(self) -> bool:
        """True when every role the lab starts is alive."""
        procs = self.state.processes
        roles = ("dockerd", "registry", "registry-auth", "sshd-vm1", "sshd-vm2", "faultproxy")
        return all(r in procs and procs[r].alive() for r in roles)

    def env(self) -> dict[str, str]:
        """What a client needs to reach the lab."""
        lay = self.layout
        return {
            "LAB_SSH_HOST": "127.0.0.1",
            "LAB_SSH_PORT": str(lay.ports.ssh),
            "LAB_SSH_PORT_DIRECT": str(lay.ports.sshd),
            "LAB_SSH2_PORT": str(lay.ports.ssh2),
            "LAB_SSH_USER": "root",
            "LAB_SSH_KEY": str(lay.client_key),
            "LAB_KNOWN_HOSTS": str(lay.known_hosts),
            "LAB_HOST_KEY": sshd.host_key_line(lay),
            "LAB_DOCKER_HOST": lay.docker_host,
            "LAB_REGISTRY": lay.registry_host,
            "LAB_REGISTRY_AUTH": lay.registry_auth_host,
            "LAB_REGISTRY_USER": registry.AUTH_USER,
            "LAB_REGISTRY_PASSWORD_FILE": str(lay.registry_dir / "auth" / "password"),
            "LAB_PROXY_CONTROL": lay.proxy_control_url,
            "LAB_VM_ROOT": str(lay.vm_root),
            "LAB_VM_PROXY_CONTROL": lay.vm_proxy_control_url,
            "LAB_VM_KNOWN_HOSTS": str(lay.vm_known_hosts),
            "LAB_VMS": json.dumps(self.vms.describe()),
        }
