"""A Prefect server of the bench's own (SQLite, its own PREFECT_HOME) on 127.0.0.1:4310."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PREFECT = str(Path(sys.executable).with_name("prefect"))
QUIET_SERVER = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_LOGGING_LEVEL": "WARNING"}


class PrefectServer:
    """`prefect server start` in its own process group; `stop` ends that group."""

    def __init__(self, home: Path, port: int) -> None:
        self.home = home
        self.port = port
        self.url = f"http://127.0.0.1:{port}/api"
        self._process: subprocess.Popen[bytes] | None = None
        self.started_s = 0.0

    def __enter__(self) -> PrefectServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, timeout: float = 120) -> float:
        """Start it and wait for /api/health; returns the seconds that took."""
        if _port_open(self.port):
            raise RuntimeError(
                f"port {self.port} is taken; the bench needs it for its Prefect server"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        env = {**clean_env(), **QUIET_SERVER, "PREFECT_HOME": str(self.home)}
        log = (self.home / "server.log").open("wb")
        started = time.monotonic()
        self._process = subprocess.Popen(
            [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        deadline = started + timeout
        while time.monotonic() < deadline and self._process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    self.started_s = time.monotonic() - started
                    return self.started_s
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"prefect server did not start; see {self.home / 'server.log'}")

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL it after 30 s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def clean_env() -> dict[str, str]:
    """os.environ without PREFECT_* settings: dockyard runs with Prefect's defaults, as a user
    runs it (its no-server exit time included)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0
