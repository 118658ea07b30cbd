"""The fleet benchmark: the example stack to 1, 2, 4, 8 isolated lab VMs at once, each from an
empty engine, through a Prefect server (and two process workers of one pool); wall time and
registry bytes per host count, as ratios to one host.

    dockyard lab up --vms 10 && python -m bench.fleet [--hosts 1,2,4,8] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.commands import run
from bench.machine import describe
from bench.prefect_server import PREFECT, PrefectServer, clean_env
from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.lab import Lab
from dockyard.lab.layout import LabLayout

REPO = Path(__file__).resolve().parents[1]
DOCKYARD = str(Path(sys.executable).with_name("dockyard"))
FLEET_EXAMPLE = REPO / "examples" / "fleet" / "deploy.yaml"
RESULTS = REPO / "bench" / "results"
SERVER_PORT = 4311
POOL = "bench-fleet"
DEPLOY_TIMEOUT = 1800.0
RESET_TIMEOUT = 120.0
DB_PASSWORD = "bench-fleet-db-password"
VARIABLES = {
    "APP_IMAGE": "127.0.0.1:5000/dockyard/app:v1",
    "MIGRATOR_IMAGE": "127.0.0.1:5000/dockyard/migrator:v1",
}


@dataclass
class FleetRun:
    """One deploy to `hosts` VMs: wall time, result, registry bytes per VM (the proxy's count
    and the deploy report's), each host's step seconds."""

    hosts: int
    mode: str
    ok: bool
    wall_s: float
    bytes_by_vm: dict[str, int] = field(default_factory=dict)
    reported_by_vm: dict[str, int] = field(default_factory=dict)
    host_seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_vm.values())


def _vms(lab: Lab) -> list[dict[str, Any]]:
    """The lab's isolated VMs (own engine each), running ones only."""
    return [v for v in json.loads(lab.env()["LAB_VMS"]) if "netns" in v and v["running"]]


def write_config(lab: Lab, vms: list[dict[str, Any]], directory: Path, pool: str | None) -> Path:
    """examples/fleet/deploy.yaml with every VM of `vms` as a target, all in one batch at once,
    paths made absolute; each target on `pool` when given."""
    doc = yaml.safe_load(FLEET_EXAMPLE.read_text())
    template = doc["targets"][0]
    doc["targets"] = [
        {**template, "name": v["name"], "host": v["ssh_host"], "port": v["ssh_port"],
         "key_file": str(lab.layout.client_key), "known_hosts": v["known_hosts"],
         **({"pool": pool} if pool else {})}
        for v in vms
    ]  # fmt: skip
    doc["rollout"] = {"canary": 0, "batch": "100%", "max_failed": "100%", "parallel": len(vms)}
    doc["stacks"][0]["bundle"] = str((FLEET_EXAMPLE.parent / doc["stacks"][0]["bundle"]).resolve())
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "deploy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def reset_vm(vm: dict[str, Any], remote_dir: str) -> None:
    """The VM back to an empty engine for the stack: its containers, volumes, networks and the
    lab images removed, its remote dir deleted (only the `shop` project and lab images)."""
    env = {**os.environ, "DOCKER_HOST": vm["docker_host"], "DOCKER_CONFIG": vm["docker_config"]}
    label = "label=com.docker.compose.project=shop"
    script = (
        f"docker ps -aq --filter {label} | xargs -r docker rm -f >/dev/null; "
        f"docker volume ls -q --filter {label} | xargs -r docker volume rm >/dev/null; "
        f"docker network ls -q --filter {label} | xargs -r docker network rm >/dev/null; "
        "docker image ls --format '{{.Repository}} {{.ID}}' | "
        "awk '$1 ~ /^127\\.0\\.0\\.1:500[02]\\/dockyard\\// {print $2}' | sort -u | "
        "xargs -r docker rmi -f >/dev/null"
    )
    done = run(["sh", "-c", script], RESET_TIMEOUT, env)
    if not done.ok:
        raise RuntimeError(f"reset of {vm['name']} failed: {done.tail()}")
    local = Path(vm["vm_root"]) / Path(remote_dir).relative_to("/srv/dockyard-lab")
    shutil.rmtree(local, ignore_errors=True)


def _registry_bytes(proxy: ProxyControl, vm: dict[str, Any]) -> int:
    routes = vm["routes"]
    return sum(proxy.stats(routes[r])["down"] for r in ("registry", "registry-auth"))


def deploy_once(lab: Lab, config: Path, vms: list[dict[str, Any]], env: dict[str, str],
                mode: str) -> FleetRun:  # fmt: skip
    """Reset `vms`, deploy to them in one run, read each VM's registry bytes."""
    remote_dir = yaml.safe_load(config.read_text())["stacks"][0]["remote_dir"]
    for vm in vms:
        reset_vm(vm, remote_dir)
    proxy = ProxyControl(vms[0]["proxy_control"])
    for vm in vms:
        for route in vm["routes"].values():
            proxy.reset_stats(route)
    hosts = [arg for v in vms for arg in ("--host", v["name"])]
    sets = [f"--set={k}={v}" for k, v in VARIABLES.items()]
    done = run([DOCKYARD, "deploy", "-c", str(config), *hosts, *sets, "--json"], DEPLOY_TIMEOUT,
               env, cwd=REPO)  # fmt: skip
    result = FleetRun(len(vms), mode, done.ok, round(done.seconds, 2), error=done.tail(4))
    result.bytes_by_vm = {v["name"]: _registry_bytes(proxy, v) for v in vms}
    with contextlib.suppress(ValueError, KeyError):
        report = json.loads(done.stdout)
        result.reported_by_vm = {
            name: sum(i["bytes"] for i in h["images"]) for name, h in report["hosts"].items()
        }
        result.host_seconds = {
            name: round(sum(s["seconds"] for s in h["steps"]), 2)
            for name, h in report["hosts"].items()
        }
        result.error = "" if done.ok else f"{report['result']}: {report['failed_hosts']}"
    return result


@contextlib.contextmanager
def workers(count: int, env: dict[str, str], logs: Path) -> Iterator[None]:
    """`count` process workers of POOL, each its own process group, stopped at the end."""
    started = []
    logs.mkdir(parents=True, exist_ok=True)
    try:
        for n in range(count):
            log = (logs / f"worker-{n + 1}.log").open("wb")
            started.append(subprocess.Popen(
                [PREFECT, "worker", "start", "--pool", POOL, "--type", "process",
                 "--name", f"bench-worker-{n + 1}"],
                env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            ))  # fmt: skip
        time.sleep(5)  # the first poll of each worker
        yield
    finally:
        for process in started:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def table(runs: list[FleetRun]) -> list[str]:
    """The README table: per host count, wall, x one host, MB per host, bytes x N one host."""
    lines = [
        "| hosts | mode | ok | wall s | x one host | MB per host (min-max) | bytes / (N x one) "
        "| reported / proxy |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mode in dict.fromkeys(r.mode for r in runs):
        ours = [r for r in runs if r.mode == mode]
        one = next((r for r in ours if r.hosts == 1 and r.ok), None)
        for r in ours:
            per = [b / 1e6 for b in r.bytes_by_vm.values()] or [0.0]
            x_time = f"{r.wall_s / one.wall_s:.2f}" if one else "-"
            x_bytes = (f"{r.total_bytes / (r.hosts * one.total_bytes):.3f}"
                       if one and one.total_bytes else "-")  # fmt: skip
            reported = sum(r.reported_by_vm.values())
            x_report = f"{reported / r.total_bytes:.3f}" if r.total_bytes else "-"
            lines.append(f"| {r.hosts} | {mode} | {'yes' if r.ok else 'NO'} | {r.wall_s:.1f} | "
                         f"{x_time} | {min(per):.2f}-{max(per):.2f} | {x_bytes} | "
                         f"{x_report} |")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__)
    parser.add_argument("--hosts", default="1,2,4,8", help="host counts, comma-separated")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="process workers of one pool (0: host runs in the deploy process)",
    )
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.hosts.split(",")]
    lab = Lab(LabLayout.from_env())
    vms = _vms(lab)
    if len(vms) < max(counts):
        print(f"the lab has {len(vms)} isolated VMs; run `dockyard lab up --vms {max(counts) + 2}`",
              file=sys.stderr)  # fmt: skip
        return 2
    work = RESULTS / "raw" / "fleet"
    shutil.rmtree(work, ignore_errors=True)
    mode = f"{args.workers} process workers" if args.workers else "in-process host runs"
    runs: list[FleetRun] = []
    with PrefectServer(work / "prefect", SERVER_PORT) as server:
        env = {**clean_env(), "PREFECT_API_URL": server.url, "PREFECT_HOME": str(server.home),
               "DB_PASSWORD": DB_PASSWORD, "LAB_REGISTRY_PASSWORD": lab.registry_password(),
               "DOCKYARD_ACTOR": "bench-fleet"}  # fmt: skip
        config = write_config(lab, vms[: max(counts)], work, POOL if args.workers else None)
        if args.workers:
            sets = [f"--set={k}={v}" for k, v in VARIABLES.items()]
            setup = run([DOCKYARD, "pool", "deploy", "-c", str(config), "--pool", POOL, *sets],
                        300, env, cwd=REPO)  # fmt: skip
            if not setup.ok:
                print(f"pool deploy failed: {setup.tail()}", file=sys.stderr)
                return 1
        with (
            workers(args.workers, env, work / "logs") if args.workers else contextlib.nullcontext()
        ):
            for count in counts:
                result = deploy_once(lab, config, vms[:count], env, mode)
                print(f"{count} host(s): {'ok' if result.ok else 'FAILED'} {result.wall_s:.1f} s, "
                      f"{result.total_bytes / 1e6:.1f} MB {result.error}", flush=True)  # fmt: skip
                runs.append(result)
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = describe()
    (RESULTS / "fleet.json").write_text(json.dumps(
        {"machine": machine, "runs": [asdict(r) for r in runs]}, indent=2))  # fmt: skip
    lines = [f"# fleet benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             f"machine: {machine}", "", *table(runs)]  # fmt: skip
    (RESULTS / "fleet.md").write_text("\n".join(lines) + "\n")
    print("\n".join(table(runs)))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
