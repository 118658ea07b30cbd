"""The lab's Docker engine: Debian's dockerd with its own data root, socket and bridge."""

from __future__ import annotations

import contextlib
import json
import shutil

from dockyard.lab.layout import LabLayout
from dockyard.lab.procs import LabProcessError, run_checked

BRIDGE_CIDR = "10.213.0.1/24"
ADDRESS_POOL = {"base": "10.214.0.0/16", "size": 24}


def require_binaries() -> None:
    """Fail with the install command if the engine's programs are missing."""
    missing = [b for b in ("dockerd", "docker", "containerd", "ip") if not shutil.which(b)]
    if missing:
        raise LabProcessError(
            f"missing {', '.join(missing)}: run `apt-get install docker.io iproute2` (as root)"
        )


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


def argv(layout: LabLayout) -> list[str]:
    """The dockerd command line for this lab."""
    config = layout.root / "daemon.json"
    config.write_text(json.dumps({"default-address-pools": [ADDRESS_POOL]}))
    return [
        shutil.which("dockerd") or "dockerd",
        "--config-file",
        str(config),
        "--data-root",
        str(layout.docker_data),
        "--exec-root",
        str(layout.docker_exec),
        "--host",
        layout.docker_host,
        "--pidfile",
        str(layout.root / "dockerd.pid"),
        "--bridge",
        layout.bridge,
        "--storage-driver",
        "overlay2",
    ]
