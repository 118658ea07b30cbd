"""Where the lab keeps its files and which loopback ports it listens on."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE_DIR = ".lab"


@dataclass(frozen=True)
class LabPorts:
    """The fixed loopback ports of one lab (the example deploy.yaml names them)."""

    ssh: int = 2222
    sshd: int = 2223
    ssh2: int = 2224
    sshd2: int = 2225
    registry: int = 5000
    registry_direct: int = 5001
    registry_auth: int = 5002
    registry_auth_direct: int = 5003
    proxy_control: int = 5010
    vm_proxy_control: int = 5011

    def all(self) -> dict[str, int]:
        """Every port by role, for status output and port-taken checks."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class LabLayout:
    """Paths under the lab's single state directory."""

    root: Path
    ports: LabPorts = LabPorts()

    @classmethod
    def from_env(cls, state_dir: str | os.PathLike[str] | None = None) -> LabLayout:
        """The layout for `state_dir`, else $DOCKYARD_LAB_DIR, else ./.lab."""
        chosen = state_dir or os.environ.get("DOCKYARD_LAB_DIR") or DEFAULT_STATE_DIR
        return cls(Path(chosen).resolve())

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def docker_data(self) -> Path:
        return self.root / "docker"

    @property
    def docker_exec(self) -> Path:
        return self.root / "run"

    @property
    def docker_socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.docker_socket}"

    @property
    def docker_config(self) -> Path:
        """DOCKER_CONFIG for lab sessions: holds cli-plugins/docker-compose."""
        return self.root / "docker-config"

    @property
    def compose_plugin(self) -> Path:
        return self.docker_config / "cli-plugins" / "docker-compose"

    @property
    def ssh_dir(self) -> Path:
        return self.root / "ssh"

    @property
    def client_key(self) -> Path:
        return self.ssh_dir / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.ssh_dir / "known_hosts"

    @property
    def vm_known_hosts(self) -> Path:
        """The isolated VMs' host keys (kept apart from known_hosts, which `up` rewrites)."""
        return self.ssh_dir / "known_hosts.vms"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def vm_root(self) -> Path:
        """Where the lab VMs keep deployed stacks (remote_dir lives below it)."""
        return Path("/srv/dockyard-lab")

    @property
    def bridge(self) -> str:
        """Name of the bridge the lab engine uses for its default network."""
        return "dylab0"

    @property
    def registry_host(self) -> str:
        """Registry address clients use: through the fault proxy."""
        return f"127.0.0.1:{self.ports.registry}"

    @property
    def registry_auth_host(self) -> str:
        return f"127.0.0.1:{self.ports.registry_auth}"

    @property
    def proxy_control_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.proxy_control}"

    @property
    def vm_proxy_control_url(self) -> str:
        """Control of the isolated VMs' fault proxy (their registry routes)."""
        return f"http://127.0.0.1:{self.ports.vm_proxy_control}"
