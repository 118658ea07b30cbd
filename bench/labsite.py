"""Find the lab, start it with `dockyard lab up`, and read what clients need from `lab env`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.commands import run_checked
from dockyard.lab.layout import DEFAULT_STATE_DIR, LabLayout
from dockyard.lab.state import LabState

DOCKYARD = str(Path(sys.executable).with_name("dockyard"))


@dataclass(frozen=True)
class LabSite:
    """A running lab: its state dir and the values of `dockyard lab env`."""

    state_dir: Path
    env: dict[str, str]

    @property
    def layout(self) -> LabLayout:
        return LabLayout(self.state_dir)

    @property
    def key_file(self) -> Path:
        return Path(self.env["LAB_SSH_KEY"])

    @property
    def host_key(self) -> str:
        return self.env["LAB_HOST_KEY"]

    @property
    def registry_password(self) -> str:
        return Path(self.env["LAB_REGISTRY_PASSWORD_FILE"]).read_text().strip()

    def engine_env(self) -> dict[str, str]:
        """Environment for the docker CLI on the lab engine (the VM side), with Compose."""
        return {
            **os.environ,
            "DOCKER_HOST": self.layout.docker_host,
            "DOCKER_CONFIG": str(self.layout.docker_config),
        }


def choose_state_dir(explicit: str | None, say: Callable[[str], None] = print) -> Path:
    """--lab-dir, else $DOCKYARD_LAB_DIR, else ./.lab; but if ./.lab is not running and another
    lab is (its dockerd runs with --data-root <dir>/docker), use that one rather than start a
    second engine on the same bridge."""
    chosen = explicit or os.environ.get("DOCKYARD_LAB_DIR")
    if chosen:
        return Path(chosen).resolve()
    default = Path(DEFAULT_STATE_DIR).resolve()
    if _running(default):
        return default
    other = _running_lab_elsewhere()
    if other is not None and other != default:
        say(f"[bench] ./{DEFAULT_STATE_DIR} has no running lab; using the running lab at {other}")
        return other
    return default


def start(state_dir: Path) -> LabSite:
    """`dockyard lab up` (idempotent) and `dockyard lab env` for `state_dir`."""
    base = [DOCKYARD, "lab", "--state-dir", str(state_dir)]
    run_checked([*base, "up"], timeout=600)
    env_lines = run_checked([*base, "env"], timeout=60).stdout.splitlines()
    env = dict(line.split("=", 1) for line in env_lines if "=" in line)
    return LabSite(state_dir, env)


def _running(state_dir: Path) -> bool:
    state_file = LabLayout(state_dir).state_file
    if not state_file.exists():
        return False
    dockerd = LabState.load(state_file).processes.get("dockerd")
    return bool(dockerd and dockerd.alive())


def _running_lab_elsewhere() -> Path | None:
    """The state dir of a running lab dockerd found in /proc, if any."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"dockerd") or b"--data-root" not in argv:
            continue
        data_root = Path(argv[argv.index(b"--data-root") + 1].decode())
        candidate = data_root.parent
        if data_root.name == "docker" and _running(candidate):
            return candidate
    return None
