"""The lab's state file: what `up` started (by pid) and created, persisted in state.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from dockyard.lab.procs import ManagedProcess


@dataclass
class LabState:
    """What `up` started (by pid) and created, persisted in state.json."""

    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    created_bridge: bool = False
    images: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> LabState:
        if not path.exists():
            return cls()
        raw = json.loads(path.read_text())
        procs = {
            role: ManagedProcess(role, p["pid"], tuple(p["argv"]), p.get("start_ticks", -1))
            for role, p in raw.get("processes", {}).items()
        }
        return cls(procs, raw.get("created_bridge", False), raw.get("images", {}))

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))
