"""Helpers for deploy tests: a Prefect server per session, configs per test, the dockyard CLI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from dockyard.lab.catalog import service
from dockyard.lab.images import BuiltImage, RegistryPusher, build
from dockyard.lab.lab import Lab
from dockyard.lab.vmspec import vm_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "lab"
DOCKYARD = str(Path(sys.executable).with_name("dockyard"))
REGISTRY = "127.0.0.1:5000/dockyard"
DB_PASSWORD = "pw-Zx81-never-printed"


def app(version: str) -> str:
    return f"{REGISTRY}/app:{version}"


def migrator(version: str) -> str:
    return f"{REGISTRY}/migrator:{version}"


def release_vars(version: str, migration: str | None = None) -> dict[str, str]:
    return {"APP_IMAGE": app(version), "MIGRATOR_IMAGE": migrator(migration or version)}


@dataclass
class PrefectServer:
    """A Prefect server (SQLite) started for the test session."""

    url: str
    home: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_prefect_server(home: Path, port: int) -> PrefectServer:
    """`prefect server start` on 127.0.0.1:port with its own home; waits for /api/health."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
    }
    prefect = str(Path(sys.executable).with_name("prefect"))
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return PrefectServer(url, home, process)
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"prefect server did not start; see {home / 'server.log'}")


@dataclass
class Deploy:
    """A deploy.yaml for one test: the example stack, its own remote dir and bundle copy."""

    lab: Lab
    config: Path
    bundle: Path
    remote_dir: str
    env: dict[str, str]
    project: str = "shop"

    def run(self, *args: str, variables: dict[str, str] | None = None, timeout: float = 600,
            extra_env: dict[str, str] | None = None) -> Result:  # fmt: skip
        """`dockyard <args> -c config --set ... --json` as a subprocess (bounded)."""
        sets = [f"--set={k}={v}" for k, v in (variables or {}).items()]
        argv = [DOCKYARD, *args, "-c", str(self.config), *sets]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
            env={**self.env, **(extra_env or {})}, cwd=REPO,
        )  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)

    def deploy(self, version: str, migration: str | None = None, **kwargs: Any) -> Result:
        return self.run("deploy", "--json", variables=release_vars(version, migration), **kwargs)

    def host(self, command: str, timeout: float = 60) -> str:
        """Run a shell command on the lab VM's side (the engine and the remote dir)."""
        env = {**os.environ, "DOCKER_HOST": self.lab.layout.docker_host,
               "DOCKER_CONFIG": str(self.lab.layout.docker_config)}  # fmt: skip
        done = subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                              timeout=timeout, env=env)  # fmt: skip
        return done.stdout

    def forget_images(self, *refs: str) -> None:
        """Remove images from the engine under every name they have (so a pull downloads)."""
        for ref in refs:
            self.host(f"id=$(docker image inspect --format '{{{{.Id}}}}' {ref} 2>/dev/null) && "
                      'docker rmi -f "$id"')  # fmt: skip

    def compose(self, *args: str) -> str:
        return self.host(f"docker compose -p {self.project} --project-directory {self.remote_dir} "
                         + " ".join(args))  # fmt: skip

    def container_ids(self) -> dict[str, str]:
        rows = [json.loads(x) for x in self.compose("ps", "--format", "json").splitlines() if x]
        return {r["Service"]: r["ID"] for r in rows}

    def version(self) -> str:
        """The app's /version as served on the host."""
        return self.host("wget -q -O- http://127.0.0.1:18080/version 2>/dev/null || "
                         "curl -s http://127.0.0.1:18080/version").strip()  # fmt: skip

    def teardown(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "2")
        shutil.rmtree(self.remote_dir, ignore_errors=True)


@dataclass
class Result:
    """Exit code, stdout, stderr of a CLI run; `report` parses the --json output."""

    code: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(
                f"no JSON report (exit {self.code}):\n{self.stderr[-3000:]}"
            ) from exc

    def host(self, name: str = "vm1") -> dict[str, Any]:
        return self.report["hosts"][name]

    def steps(self, name: str = "vm1") -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.host(name)["steps"]}


APP_HEALTH = (
    '      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]\n'
)


def unhealthy_in(bundle: Path, retries: int = 4) -> None:
    """The app's healthcheck in this bundle copy gives up after `retries` failed checks (2 s
    apart), not the stack's 15: a never-healthy release is told in ~9 s, not ~31 s."""
    compose = bundle / "docker-compose.yml"
    text = compose.read_text()
    app_at = text.index("\n  app:\n")
    check_at = text.index(APP_HEALTH, app_at) + len(APP_HEALTH)
    compose.write_text(f"{text[:check_at]}      retries: {retries}\n{text[check_at:]}")


@contextmanager
def moved_latest(lab: Lab, name: str = "autoheal") -> Iterator[BuiltImage]:
    """The lab registry's `<name>:latest` moved to a new image for the block, then put back."""
    original = build(service(name, "latest", 1))
    moved = build(service(name, "latest", 1.5))
    pusher = RegistryPusher(f"http://127.0.0.1:{lab.layout.ports.registry_direct}")
    try:
        pusher.push(moved)
        yield moved
    finally:
        pusher.push(original)
        pusher.close()


def unreachable(target: dict[str, Any], lab: Lab) -> dict[str, Any]:
    """A copy of a target pointing at a closed port, its host key pinned inline."""
    broken = {**target, "port": 2299, "host_key": lab.env()["LAB_HOST_KEY"]}
    broken.pop("known_hosts", None)
    return broken


def vm_targets(doc: dict[str, Any], names: tuple[str, ...]) -> None:
    """The lab's isolated VMs `names` as doc's targets, each at its namespace address, port 22
    (direct), with the first target's key and the VMs' known_hosts."""
    base = doc["targets"][0]
    known_hosts = Path(base["known_hosts"]).with_name("known_hosts.vms")
    doc["targets"] = [
        {**base, "name": name, "host": vm_spec(Path("."), name).ns_addr, "port": 22,
         "known_hosts": str(known_hosts)}
        for name in names
    ]  # fmt: skip


def make_deploy(lab: Lab, tmp: Path, server: PrefectServer, name: str,
                edit: Any = None) -> Deploy:  # fmt: skip
    """A config for test `name`: its own remote dir and bundle copy; `edit(doc)` may change it."""
    bundle = tmp / "stack"
    shutil.copytree(EXAMPLE / "stack", bundle)
    doc = yaml.safe_load((EXAMPLE / "deploy.yaml").read_text())
    remote_dir = f"{lab.layout.vm_root}/tests/{name}"
    target = doc["targets"][0]
    target["key_file"] = str(lab.layout.client_key)
    target["known_hosts"] = str(lab.layout.known_hosts)
    target["keepalive_interval"] = 2
    target["keepalive_count_max"] = 3
    stack = doc["stacks"][0]
    stack["bundle"] = str(bundle)
    stack["remote_dir"] = remote_dir
    doc["steps"]["defaults"]["retry_delay"] = "1s"
    if edit:
        edit(doc)
    config = tmp / "deploy.yaml"
    config.write_text(yaml.safe_dump(doc, sort_keys=False))
    return Deploy(lab, config, bundle, remote_dir, deploy_env(lab, server))


def deploy_env(lab: Lab, server: PrefectServer, *, quiet_prefect: bool = True) -> dict[str, str]:
    """The environment the CLI runs in; `quiet_prefect=False` keeps the user's Prefect logging
    settings (no PREFECT_LOGGING_LEVEL override), as the real-stack tests run."""
    env = {
        **os.environ,
        "PREFECT_API_URL": server.url,
        "PREFECT_HOME": str(server.home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DB_PASSWORD": DB_PASSWORD,
        "LAB_REGISTRY_PASSWORD": lab.registry_password(),
        "DOCKYARD_ACTOR": "pytest",
    }
    if quiet_prefect:
        env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    return env


@contextmanager
def pool_workers(
    deploy: Deploy, pool: str, names: tuple[str, ...], logs: Path
) -> Iterator[list[Path]]:
    """`dockyard pool deploy` for the deploy's config, then a process worker per name (one
    run at a time each, polling every second), stopped by pid at the end; yields their logs."""
    setup = deploy.run("pool", "deploy")
    assert setup.code == 0, setup.stdout + setup.stderr
    prefect = str(Path(sys.executable).with_name("prefect"))
    env = {**deploy.env, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_LOGGING_LEVEL": "INFO"}
    files, procs = [], []
    try:
        for name in names:
            log = logs / f"{name}.log"
            with log.open("wb") as out:
                procs.append(subprocess.Popen(
                    [prefect, "worker", "start", "--pool", pool, "--type", "process", "--limit",
                     "1", "--name", name],
                    env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=REPO, start_new_session=True,
                ))  # fmt: skip
            files.append(log)
        yield files
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        stop_by = time.monotonic() + 10  # a worker can take 30 s and more to leave on SIGTERM
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, stop_by - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
