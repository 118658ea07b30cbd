"""Our own fault proxy: the registry route the engine pulls through and the SSH route to vm2."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.lab.faultproxy import FaultProxy
from dockyard.lab.layout import LabPorts

REGISTRY_ROUTE = "registry"
SSH_ROUTE = "ssh"


@dataclass(frozen=True)
class RegistryTraffic:
    """What went through the registry route during one deploy."""

    bytes_down: int
    bytes_up: int
    requests: int
    answered_503: int
    blob_requests: int


class BenchProxy:
    """An in-process FaultProxy with two routes; never touches the lab's own proxy."""

    def __init__(self, registry_port: int, ssh_port: int, ports: LabPorts | None = None) -> None:
        ports = ports or LabPorts()
        self._proxy = FaultProxy(timeout=10.0)
        try:
            self._proxy.add_route(REGISTRY_ROUTE, registry_port, ports.registry_direct, http=True)
            self._proxy.add_route(SSH_ROUTE, ssh_port, ports.sshd2)
        except BaseException:
            self._proxy.close()
            raise

    def __enter__(self) -> BenchProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._proxy.close()

    def reset_counters(self) -> None:
        self._proxy.reset_stats(REGISTRY_ROUTE)
        self._proxy.reset_stats(SSH_ROUTE)

    def registry_traffic(self) -> RegistryTraffic:
        stats: dict[str, Any] = self._proxy.stats(REGISTRY_ROUTE)
        requests = stats["requests"]
        return RegistryTraffic(
            bytes_down=stats["down"],
            bytes_up=stats["up"],
            requests=len(requests),
            answered_503=sum(1 for r in requests if r["answered_503"]),
            blob_requests=sum(1 for r in requests if "/blobs/" in r["path"]),
        )

    def throttle_registry(self, bytes_per_s: int) -> None:
        self._proxy.set_faults(REGISTRY_ROUTE, throttle=bytes_per_s)

    def flaky_registry(self, count: int, path: str) -> None:
        self._proxy.set_faults(REGISTRY_ROUTE, http_503={"count": count, "path": path})

    def idle_drop_ssh(self, seconds: float) -> None:
        self._proxy.set_faults(SSH_ROUTE, idle_drop=seconds)

    def clear_faults(self) -> None:
        self._proxy.clear_faults(REGISTRY_ROUTE)
        self._proxy.clear_faults(SSH_ROUTE)
