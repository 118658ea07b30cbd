"""The lab's OpenSSH server: own host key, key-only auth, sessions that see the lab engine."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from dockyard.lab.layout import LabLayout
from dockyard.lab.procs import require_programs, run_checked
from dockyard.lab.vmspec import SSH_PORT, VmSpec


def require_binaries() -> None:
    """Fail with the install command if sshd or ssh-keygen is missing."""
    require_programs(("sshd", "ssh-keygen"), "apt-get install openssh-server")


def _keygen(path: Path, comment: str) -> None:
    if not path.exists():
        run_checked(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            timeout=30,
        )


def ensure_keys(layout: LabLayout) -> None:
    """Host key, client key, authorized_keys and a known_hosts pinning every lab ssh port."""
    ssh = layout.ssh_dir
    ssh.mkdir(parents=True, exist_ok=True)
    ssh.chmod(0o700)
    _keygen(ssh / "ssh_host_ed25519_key", "dockyard-lab-host")
    _keygen(layout.client_key, "dockyard-lab-client")
    authorized = ssh / "authorized_keys"
    authorized.write_text(layout.client_key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    host_pub = " ".join((ssh / "ssh_host_ed25519_key.pub").read_text().split()[:2])
    ports = layout.ports
    lines = [
        f"[127.0.0.1]:{p} {host_pub}" for p in (ports.ssh, ports.sshd, ports.ssh2, ports.sshd2)
    ]
    layout.known_hosts.write_text("\n".join(lines) + "\n")


def write_vm_known_hosts(layout: LabLayout, vm_addrs: Sequence[str]) -> None:
    """known_hosts.vms: the isolated VMs' addresses (port 22) pinned to the lab's host key."""
    lines = [f"{addr} {host_key_line(layout)}" for addr in vm_addrs]
    layout.vm_known_hosts.write_text("".join(f"{line}\n" for line in lines))


def host_key_line(layout: LabLayout) -> str:
    """The host key as `type base64`, for a config's host_key field."""
    return " ".join((layout.ssh_dir / "ssh_host_ed25519_key.pub").read_text().split()[:2])


def _write(
    layout: LabLayout, name: str, listen: str, port: int, docker_host: str, docker_config: Path
) -> Path:
    ssh = layout.ssh_dir
    config = ssh / f"sshd_config.{name}"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {listen}",
                f"HostKey {ssh / 'ssh_host_ed25519_key'}",
                f"PidFile {layout.root / f'sshd.{name}.pid'}",
                f"AuthorizedKeysFile {ssh / 'authorized_keys'}",
                "PermitRootLogin prohibit-password",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "MaxSessions 10",
                "MaxStartups 30:50:60",
                "LogLevel INFO",
                f"SetEnv DOCKER_HOST={docker_host} DOCKER_CONFIG={docker_config}"
                f" DOCKYARD_LAB_VM={name}",
                "Subsystem sftp internal-sftp",
            ]
        )
        + "\n"
    )
    return config


def write_config(layout: LabLayout, name: str, port: int) -> Path:
    """An sshd_config for one lab VM on 127.0.0.1:port."""
    return _write(layout, name, "127.0.0.1", port, layout.docker_host, layout.docker_config)


def write_vm_config(layout: LabLayout, vm: VmSpec) -> Path:
    """An sshd_config for an isolated VM: port 22 on its address, sessions see its engine."""
    return _write(layout, vm.name, vm.ns_addr, SSH_PORT, vm.docker_host, vm.docker_config)


def argv(config: Path) -> list[str]:
    """The sshd command line: foreground, log to stderr, own config."""
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    return [shutil.which("sshd") or "/usr/sbin/sshd", "-D", "-e", "-f", str(config)]
