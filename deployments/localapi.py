"""A one-run local Prefect API for `dockyard deploy` when PREFECT_API_URL is unset.

Prefect's own ephemeral mode imports its whole server in the CLI process just to start a
subprocess, and only after the flow is imported, then registers every block type. Here the API
subprocess starts right after the config is valid, so it boots while the CLI imports Prefect
and the flow (2 cores: in parallel), the CLI never imports the server, and blocks, UI and
telemetry stay off (a deploy uses none of them). Runs are stored as in ephemeral mode, in the
SQLite database under PREFECT_HOME, so `dockyard resume` finds them.

A fresh PREFECT_HOME (a CI job) would spend most of its start migrating a new database, so
the first migrated database of each Prefect version is kept under ~/.cache/dockyard (cache that
directory in CI) and copied into a fresh PREFECT_HOME before the API starts; an API whose
database was just copied from it skips the migration check. Automations (the triggers
service) stay off: a one-run API has none to run.

The API outlives the run's logs: `drain` sends what Prefect's log and event workers still
hold before the API stops (left to interpreter exit, they would retry a stopped API for
about a minute after the report)."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from dockyard.errors import DockyardError

START_TIMEOUT = 90.0
DRAIN_TIMEOUT = 10.0

SERVER_ENV = {
    "PREFECT_UI_ENABLED": "false",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
_OFF = {"0", "false", "no", "off"}


class LocalApiFailed(DockyardError):
    """The local Prefect API did not come up."""


def wanted(env: os._Environ[str] | dict[str, str]) -> bool:
    """A local API is needed when no API URL is set and ephemeral mode is not switched off."""
    allowed = env.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true").lower() not in _OFF
    return not env.get("PREFECT_API_URL") and allowed


def _database(env: os._Environ[str] | dict[str, str]) -> Path | None:
    """The default SQLite database under PREFECT_HOME, or None when another database is set."""
    if env.get("PREFECT_API_DATABASE_CONNECTION_URL") or env.get(
        "PREFECT_SERVER_DATABASE_CONNECTION_URL"
    ):
        return None
    return Path(env.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser() / "prefect.db"


def server_env(base: Mapping[str, str], seeded: bool) -> dict[str, str]:
    """The API subprocess's environment: `base` with SERVER_ENV; without the migration check
    when its database was `seeded` from the migrated template of this Prefect version."""
    env = {**base, **SERVER_ENV}
    if seeded:
        env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
    return env


def drain(timeout: float = DRAIN_TIMEOUT) -> None:
    """Send the logs and events Prefect's workers still queue to the API and stop the workers
    (Prefect's own APILogHandler.flush, for events too); nothing when Prefect is not loaded."""
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=timeout)
    EventsWorker.drain_all(timeout=timeout)


def _template() -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockyard"
    return cache / f"prefect-{importlib.metadata.version('prefect')}.db"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalApi:
    """The API subprocess: `start` (returns at once), `wait` (until healthy), `stop`."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        self.log = Path(tempfile.mkstemp(prefix="dockyard-prefect-api-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None
        self.database = _database(os.environ)
        self.fresh = self.database is not None and not self.database.exists()

    def start(self) -> None:
        template = _template()
        seeded = bool(self.fresh and self.database and template.is_file())
        if seeded and self.database:
            self.database.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(template, self.database)
        argv = [sys.executable, "-m", "uvicorn", "--factory",
                "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port",
                str(self.port), "--log-level", "error", "--lifespan", "on"]  # fmt: skip
        env = server_env(os.environ, seeded)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )

    def wait(self, timeout: float = START_TIMEOUT) -> None:
        """Poll /health every 0.1 s (each probe bounded to 2 s) until it answers or time is up."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process is None or self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        self._keep_template()
                        return
            except OSError:
                pass
            time.sleep(0.1)
        tail = self.log.read_text(errors="replace")[-2000:]
        self.stop()
        raise LocalApiFailed(f"the local Prefect API on port {self.port} did not start within "
                             f"{timeout:.0f} s: {tail.strip() or 'no output'}; fix: set "
                             "PREFECT_API_URL to a running server (`dockyard server`)")  # fmt: skip

    def _keep_template(self) -> None:
        """After the first migration of a fresh database, keep a consistent copy of it."""
        template = _template()
        if not (self.fresh and self.database and not template.exists()):
            return
        template.parent.mkdir(parents=True, exist_ok=True)
        partial = template.with_suffix(f".{os.getpid()}.part")
        src, dst = sqlite3.connect(self.database, timeout=10), sqlite3.connect(partial)
        try:
            src.backup(dst)
        finally:
            src.close()
            dst.close()
        partial.replace(template)

    def stop(self) -> None:
        """Terminate the subprocess (kill after 5 s) and remove its log."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None
        self.log.unlink(missing_ok=True)
