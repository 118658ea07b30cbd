"""The deploy methods measured: the blanket and targeted shell scripts (the latter also with
`up --wait`), dockyard against a running Prefect server and in ephemeral mode, and plain
`compose up -d` as a reference (the Ansible contender is bench.playbook)."""

from __future__ import annotations

import heapq
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bench.commands import Completed, run, run_checked
from bench.prefect_server import clean_env
from bench.workspace import SILENT_SECONDS, SSH_HOST, SSH_PORT, SSH_USER, Workspace

HERE = Path(__file__).resolve().parent
DOCKYARD = str(Path(sys.executable).with_name("dockyard"))
DEPLOY_TIMEOUT = 600.0


@dataclass
class Outcome:
    """One deploy as run: the command's result, and for dockyard its report, step times and
    step start offsets (seconds since the host run began)."""

    done: Completed
    report: dict[str, Any] | None = None
    steps_seconds: float | None = None
    step_times: dict[str, float] = field(default_factory=dict)
    step_starts: dict[str, float] = field(default_factory=dict)
    cached_steps: list[str] = field(default_factory=list)

    @property
    def orchestration_seconds(self) -> float | None:
        """Wall time not spent inside a step (pulls count once, as their longest)."""
        if self.steps_seconds is None:
            return None
        return max(0.0, self.done.seconds - self.steps_seconds)


class Contender(Protocol):
    """A way to deploy the bench stack to vm2."""

    name: str
    remote_dir: str
    is_reference: bool

    def setup(self, version: str) -> None:
        """Unmeasured set-up before a measured deploy of `version`."""

    def deploy(self, version: str, silent: bool = False) -> Outcome:
        """Deploy release `version` (with a silent step first if `silent`)."""


def ssh_argv(ws: Workspace, *extra: str) -> list[str]:
    """ssh to vm2 through our SSH route with strict host keys and no user config."""
    return [
        "ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
        "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={ws.known_hosts}", "-o", "ServerAliveInterval=15",
        "-i", str(ws.lab.key_file), "-p", str(SSH_PORT), *extra, f"{SSH_USER}@{SSH_HOST}",
    ]  # fmt: skip


class ShellContender:
    """blanket.sh or targeted.sh (`wait`: with `compose up -d --wait`); the harness uploads the
    bundle and .env by scp first."""

    is_reference = False

    def __init__(self, name: str, script: str, ws: Workspace, wait: bool = False) -> None:
        self.name = name
        self.script = HERE / script
        self.ws = ws
        self.wait = wait
        self.remote_dir = ws.remote_dir(name)

    def setup(self, version: str) -> None:
        upload_bundle(self.ws, self.remote_dir, version)

    def deploy(self, version: str, silent: bool = False) -> Outcome:
        env = {
            **os.environ,
            "BENCH_SSH_HOST": SSH_HOST,
            "BENCH_SSH_PORT": str(SSH_PORT),
            "BENCH_SSH_USER": SSH_USER,
            "BENCH_SSH_KEY": str(self.ws.lab.key_file),
            "BENCH_KNOWN_HOSTS": str(self.ws.known_hosts),
            "BENCH_SILENT_SECONDS": str(SILENT_SECONDS if silent else 0),
            "BENCH_UP_WAIT": "1" if self.wait else "0",
        }
        return Outcome(run(["bash", str(self.script), self.remote_dir], DEPLOY_TIMEOUT, env))


class ComposeUpReference:
    """`compose up -d` alone in the targeted-shell's directory: the no-op floor."""

    name = "compose-up (reference)"
    is_reference = True

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.remote_dir = ws.remote_dir("targeted-shell")

    def setup(self, version: str) -> None:
        upload_bundle(self.ws, self.remote_dir, version)

    def deploy(self, version: str, silent: bool = False) -> Outcome:
        argv = [*ssh_argv(self.ws), f"cd {self.remote_dir} && docker compose up -d"]
        return Outcome(run(argv, DEPLOY_TIMEOUT))


class DockyardContender:
    """`dockyard deploy --json` against our Prefect server, or ephemeral (no API URL, a fresh
    PREFECT_HOME per deploy: a cold start every time)."""

    is_reference = False

    def __init__(self, ws: Workspace, server_url: str | None, server_home: Path | None) -> None:
        self.ws = ws
        self.server_url = server_url
        self.server_home = server_home
        self.name = "dockyard" if server_url else "dockyard (ephemeral)"
        self.remote_dir = ws.remote_dir("dockyard")
        self.config = ws.config
        self._cold_homes = 0
        self._deploys = 0

    def setup(self, version: str) -> None:
        """dockyard uploads its own bundle and .env."""

    def deploy(self, version: str, silent: bool = False) -> Outcome:
        self._deploys += 1
        config = (
            self.ws.write_silent_config(f"{self.name}-{self._deploys}") if silent else self.config
        )
        sets = [f"--set={k}={v}" for k, v in self.ws.release_vars(version).items()]
        argv = [DOCKYARD, "deploy", "-c", str(config), *sets, "--json"]
        done = run(argv, DEPLOY_TIMEOUT, self._env())
        report = _json_report(done.stdout)
        outcome = Outcome(done, report)
        if report is not None:
            steps = [s for host in report["hosts"].values() for s in host["steps"]]
            outcome.step_times = {s["name"]: s["seconds"] for s in steps}
            outcome.step_starts = {s["name"]: s.get("started", 0.0) for s in steps}
            outcome.cached_steps = [s["name"] for s in steps if s["state"] == "Cached"]
            pulls = [s["seconds"] for s in steps if s["name"].startswith("pull ")]
            others = [s["seconds"] for s in steps if not s["name"].startswith("pull ")]
            outcome.steps_seconds = sum(others) + pull_phase(pulls, self.ws.pull_parallel)
        return outcome

    def _env(self) -> dict[str, str]:
        env = {
            **clean_env(),
            "DB_PASSWORD": self.ws.db_password,
            "LAB_REGISTRY_PASSWORD": self.ws.lab.registry_password,
            "DOCKYARD_ACTOR": "bench",
        }
        if self.server_url and self.server_home:
            env["PREFECT_API_URL"] = self.server_url
            env["PREFECT_HOME"] = str(self.server_home)
        else:
            self._cold_homes += 1
            home = self.ws.root / f"prefect-ephemeral-{self._cold_homes}"
            home.mkdir()
            env["PREFECT_HOME"] = str(home)
        return env


def pull_phase(durations: list[float], parallel: int) -> float:
    """How long pulls of these durations take on `parallel` workers, started in order (the
    longest pull when there are no more pulls than workers)."""
    workers = [0.0] * max(1, parallel)
    for seconds in durations:
        heapq.heappush(workers, heapq.heappop(workers) + seconds)
    return max(workers)


def upload_bundle(ws: Workspace, remote_dir: str, version: str) -> None:
    """mkdir the remote dir, then scp the bundle's files and the .env for `version` into it."""
    run_checked([*ssh_argv(ws), f"mkdir -p {remote_dir}"], timeout=60)
    env_file = ws.write_env_file(version)
    sources = [str(p) for p in sorted(ws.stack_dir.iterdir())] + [str(env_file)]
    scp = ["scp" if a == "ssh" else a for a in ssh_argv(ws)[:-1]]
    scp = [("-P" if a == "-p" else a) for a in scp]
    run_checked([*scp, "-q", "-r", "-p", *sources, f"{SSH_USER}@{SSH_HOST}:{remote_dir}/"],
                timeout=120)  # fmt: skip


def _json_report(stdout: str) -> dict[str, Any] | None:
    """The --json report (the last JSON object printed), or None."""
    text = stdout.strip()
    start = text.find("{")
    if start < 0:
        return None
    try:
        value = json.loads(text[start:])
    except ValueError:
        return None
    return value if isinstance(value, dict) and "hosts" in value else None
