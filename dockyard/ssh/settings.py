"""How to reach one target over SSH: address, key source, pinned host key, keepalive tuning."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dockyard.ssh.limits import MAX_CHANNELS, keepalive_problem


def known_hosts_name(host: str, port: int) -> str:
    """The host's name in known_hosts: `host`, or `[host]:port` off port 22."""
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class LinkSettings:
    """One target's link settings; key_data and key_passphrase stay out of repr.

    keepalive_interval 0 turns keepalive (and dead-peer detection) off, like OpenSSH's
    ServerAliveInterval 0; otherwise a peer that answers no probe for
    keepalive_interval x keepalive_count_max seconds is declared dead."""

    name: str
    host: str
    port: int = 22
    user: str = "root"
    key_file: Path | None = None
    key_data: str | None = field(default=None, repr=False)
    key_passphrase: str | None = field(default=None, repr=False)
    use_agent: bool = False
    known_hosts: Path | None = None
    host_key: str | None = None
    keepalive_interval: float = 15
    keepalive_count_max: int = 4
    connect_timeout: float = 10
    max_channels: int = 8

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.port <= 65535:
            problems.append(f"port {self.port} is not 1..65535")
        if not (self.key_file or self.key_data or self.use_agent):
            problems.append("no key source: set key_file, key_data or use_agent")
        if self.key_file and self.key_data:
            problems.append("key_file and key_data are both set; keep one")
        if not (self.known_hosts or self.host_key):
            problems.append("no pinned host key: set known_hosts or host_key")
        if keepalive := keepalive_problem(self.keepalive_interval, self.keepalive_count_max):
            problems.append(keepalive)
        if self.connect_timeout <= 0:
            problems.append("connect_timeout must be > 0")
        if not 1 <= self.max_channels <= MAX_CHANNELS:
            problems.append(f"max_channels must be 1..{MAX_CHANNELS} (below MaxSessions)")
        if problems:
            raise ValueError(f"link settings for {self.name!r}: {'; '.join(problems)}")

    @property
    def label(self) -> str:
        """How errors and logs name this target: `vm1 (root@10.0.0.5:22)`."""
        return f"{self.name} ({self.user}@{self.host}:{self.port})"

    @property
    def known_hosts_name(self) -> str:
        """The host's name in known_hosts: `host`, or `[host]:port` off port 22."""
        return known_hosts_name(self.host, self.port)

    @property
    def dead_after(self) -> float:
        """Seconds without an answer to keepalive probes after which the peer is dead (0: never)."""
        return self.keepalive_interval * self.keepalive_count_max
