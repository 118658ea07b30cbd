"""The disk gate: free space and used % of the engine's data root against `disk:` thresholds."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.commands import disk as commands
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.runner import Runner

GB = 1_000_000_000


class DiskReadError(DeployError):
    """`df` or the docker CLI printed something dockyard cannot read."""


@dataclass(frozen=True, slots=True)
class DiskStatus:
    """Free and total bytes of the filesystem holding the data root, and its used %."""

    free_bytes: int
    total_bytes: int
    used_pct: float

    @classmethod
    def parse_df(cls, output: str) -> DiskStatus:
        """Read `df -B1 --output=avail,size,pcent` output (a header line, then one row)."""
        lines = output.strip().splitlines()
        row = lines[-1].split() if len(lines) == 2 else []
        try:
            free, total, pct = row
            used = 0.0 if pct == "-" else float(pct.removesuffix("%"))
            return cls(free_bytes=int(free), total_bytes=int(total), used_pct=used)
        except ValueError as exc:
            raise DiskReadError(f"unexpected df output: {output.strip()!r}") from exc

    def __str__(self) -> str:
        return f"{size(self.free_bytes)} free of {size(self.total_bytes)}, {self.used_pct:g}% used"


@dataclass(frozen=True, slots=True)
class DiskGate:
    """Deploy only with at least `min_free_gb` (10^9 bytes) free and at most `max_used_pct` used."""

    min_free_gb: float
    max_used_pct: float

    def passes(self, status: DiskStatus) -> bool:
        """Whether `status` meets both thresholds."""
        return not self._failures(status)

    def reason(self, status: DiskStatus) -> str:
        """Why the gate fails ("12.3 GB free < 15 GB"), or that it passes and by how much."""
        if failures := self._failures(status):
            return "; ".join(failures)
        return (
            f"{_gb(status.free_bytes)} free >= {self.min_free_gb:g} GB, "
            f"{status.used_pct:g}% used <= {self.max_used_pct:g}%"
        )

    def _failures(self, status: DiskStatus) -> list[str]:
        failures = []
        if status.free_bytes < self.min_free_gb * GB:
            failures.append(f"{_gb(status.free_bytes)} free < {self.min_free_gb:g} GB")
        if status.used_pct > self.max_used_pct:
            failures.append(f"{status.used_pct:g}% used > {self.max_used_pct:g}%")
        return failures


def disk_status(runner: Runner, deadline: Deadline, data_root: str) -> DiskStatus:
    """Free space and used % of the filesystem that holds `data_root`."""
    out = runner.run(commands.df(data_root), deadline=deadline, quiet=True).stdout
    return DiskStatus.parse_df(out)


def size(n: int) -> str:
    """Bytes as a person reads them (decimal units, like docker)."""
    for unit, scale in (("GB", GB), ("MB", 1_000_000), ("kB", 1_000)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _gb(n: int) -> str:
    return f"{n / GB:.1f} GB"
