"""Real public stacks (n8n, plausible, airflow; files in tests/stacks, see SOURCES) deployed end
to end on the lab with stand-in images of the same repository paths: first deploy, redeploy
(no flow run), new release, rollback, redeploy (no-op); the running config must match what
`docker compose config` makes of the original files with their `.env`. Prefect logs as a user's
would (no PREFECT_LOGGING_LEVEL override)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from dockyard.lab import standins
from dockyard.lab.images import RegistryPusher, build
from dockyard.lab.lab import Lab
from tests.integration.deploykit import Deploy, PrefectServer, Result, deploy_env

STACKS = Path(__file__).resolve().parents[1] / "stacks"
LAB_REGISTRY = "127.0.0.1:5000"
IMAGE_LINE = re.compile(r"^(\s*image:\s*)(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class RealStack:
    """One real stack: its releases (directories under tests/stacks, copied in order into the
    bundle), the deploy.yaml stack entry we write around it, and what each step must change."""

    project: str
    compose_files: tuple[str, ...]
    releases: tuple[tuple[str, ...], tuple[str, ...]]
    services: frozenset[str]
    changed_by_release: frozenset[str]
    url: str
    profiles: tuple[str, ...] = ()
    jobs: tuple[dict[str, Any], ...] = ()
    job_saw: tuple[str, str] | None = None
    floating: str | None = None


N8N = RealStack(
    project="n8n",
    compose_files=("docker-compose.yml",),
    releases=(("n8n/49d786e",), ("n8n/2ccf1b3",)),
    services=frozenset(
        {"postgres", "redis", "n8n", "n8n-runner", "n8n-worker", "n8n-worker-runner"}
    ),
    changed_by_release=frozenset({"redis", "n8n", "n8n-worker"}),
    url="http://127.0.0.1:5678/version",
    floating="n8nio/n8n:stable",
)
PLAUSIBLE = RealStack(
    project="plausible",
    compose_files=("docker-compose.yml", "lab-ulimits.yml"),
    releases=(("plausible/1d4f9e9", "plausible/lab"), ("plausible/4ebc0f6", "plausible/lab")),
    services=frozenset({"mail", "plausible_db", "plausible_events_db", "plausible"}),
    changed_by_release=frozenset({"plausible"}),
    url="http://127.0.0.1:8000/version",
)
AIRFLOW_SERVICES = frozenset({"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                              "airflow-worker", "airflow-triggerer", "flower"})  # fmt: skip
AIRFLOW = RealStack(
    project="airflow",
    compose_files=("docker-compose.yaml",),
    releases=(("airflow/upstream", "airflow/release-1"), ("airflow/upstream", "airflow/release-2")),
    services=AIRFLOW_SERVICES | {"postgres", "redis"},
    changed_by_release=AIRFLOW_SERVICES,
    url="http://127.0.0.1:8080/version",
    profiles=("flower",),
    jobs=({"name": "init", "service": "airflow-init", "timeout": "2m"},),
    job_saw=("# bundle release 1", "# bundle release 2"),
)


def lab_image(ref: str) -> str:
    """`ref` with its registry host replaced by (or, for Docker Hub, prefixed with) the lab's."""
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return f"{LAB_REGISTRY}/{rest}"
    return f"{LAB_REGISTRY}/{ref}"


def rewrite_registry(text: str) -> str:
    """The one edit the real files get: literal image references pull from the lab registry
    (references set by a variable, such as airflow's, are pointed there by the .env)."""

    def swap(m: re.Match[str]) -> str:
        ref = m.group(2)
        return m.group(0) if ref.startswith("${") else m.group(1) + lab_image(ref)

    return IMAGE_LINE.sub(swap, text)


def install_release(stack: RealStack, release: int, bundle: Path) -> None:
    """Replace the bundle's content with the files of `release` (0 or 1), registry rewritten."""
    shutil.rmtree(bundle, ignore_errors=True)
    for part in stack.releases[release]:
        shutil.copytree(STACKS / part, bundle, dirs_exist_ok=True)
    compose = bundle / stack.compose_files[0]
    original = compose.read_text()
    rewritten = rewrite_registry(original)
    changed = [
        (a, b) for a, b in zip(original.splitlines(), rewritten.splitlines(), strict=True) if a != b
    ]
    assert all(IMAGE_LINE.match(a) for a, _ in changed), "only image lines are rewritten"
    compose.write_text(rewritten)


def stack_config(stack: RealStack, lab: Lab, bundle: Path, remote_dir: str) -> dict[str, Any]:
    """The deploy.yaml around the real files (ours to write)."""
    return {
        "targets": [{
            "name": "vm1", "host": "127.0.0.1", "port": lab.layout.ports.ssh, "user": "root",
            "key_file": str(lab.layout.client_key), "known_hosts": str(lab.layout.known_hosts),
            "keepalive_interval": 2, "keepalive_count_max": 3,
        }],
        "stacks": [{
            "project": stack.project,
            "bundle": str(bundle),
            "remote_dir": remote_dir,
            "compose_files": list(stack.compose_files),
            "profiles": list(stack.profiles),
            "jobs": [dict(j) for j in stack.jobs],
            "up": {"wait_timeout": "3m"},
            "health": {"compose": True,
                       "http": [{"url": stack.url, "attempts": 60, "interval": "1s"}]},
        }],
        "steps": {"defaults": {"timeout": "5m", "retries": 2, "retry_delay": "1s"},
                  "lock": {"wait": "3m", "expiry": "2m"}},
    }  # fmt: skip


@dataclass
class Deployed:
    """One real stack on the lab for the whole module, with what each step left behind."""

    stack: RealStack
    kit: Deploy
    history: dict[str, Result] = field(default_factory=dict)
    ids: dict[str, dict[str, str]] = field(default_factory=dict)

    def deploy(self, release: int) -> Result:
        install_release(self.stack, release, self.kit.bundle)
        return self.kit.run("deploy", "--json")

    def running(self) -> dict[str, str]:
        """Service -> container id of the project's running containers."""
        return {s: i for s, i in self.kit.container_ids().items() if self._state(i) == "running"}

    def _state(self, cid: str) -> str:
        return self.kit.host(f"docker inspect --format '{{{{.State.Status}}}}' {cid}").strip()

    def inspect(self) -> dict[str, dict[str, Any]]:
        ids = self.running()
        out = self.kit.host("docker inspect " + " ".join(ids.values())) if ids else "[]"
        by_id = {c["Id"]: c for c in json.loads(out)}
        return {s: next(c for k, c in by_id.items() if k.startswith(i)) for s, i in ids.items()}

    def compose_config(self) -> dict[str, Any]:
        """`docker compose config --format json` of the bundle as shipped, with its .env."""
        profiles = " ".join(f"--profile {p}" for p in self.stack.profiles)
        files = " ".join(f"-f {f}" for f in self.stack.compose_files)
        out = self.kit.host(
            f"cd {self.kit.bundle} && docker compose -p {self.stack.project} {profiles} "
            f"{files} config --format json"
        )
        return json.loads(out)

    def job_outputs(self) -> dict[str, str]:
        """Each job run's directory on the host -> its output."""
        jobs = Path(self.kit.remote_dir, ".dockyard", "jobs")
        return {str(p.parent): p.read_text() for p in sorted(jobs.glob("*/*/out"))}

    def served_version(self) -> str:
        return self.kit.host(f"wget -q -O- {self.stack.url} 2>/dev/null").strip()


def _push(lab: Lab, image: Any) -> None:
    with RegistryPusher(f"http://127.0.0.1:{lab.layout.ports.registry_direct}") as pusher:
        pusher.push(build(image))


@pytest.fixture(scope="module", params=[N8N, PLAUSIBLE, AIRFLOW], ids=lambda s: s.project)
def real(
    request: pytest.FixtureRequest,
    lab: Lab,
    prefect_server: PrefectServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    stack: RealStack = request.param
    tmp = tmp_path_factory.mktemp(f"real-{stack.project}")
    bundle = tmp / "bundle"
    remote_dir = f"{lab.layout.vm_root}/tests/real-{stack.project}"
    config = tmp / "deploy.yaml"
    config.write_text(yaml.safe_dump(stack_config(stack, lab, bundle, remote_dir), sort_keys=False))
    env = deploy_env(lab, prefect_server, quiet_prefect=False)
    kit = Deploy(lab, config, bundle, remote_dir, env, project=stack.project)
    deployed = Deployed(stack, kit)
    _push(lab, standins.n8n(1))
    kit.teardown()
    yield deployed
    kit.teardown()
    _push(lab, standins.n8n(1))


def _ok(result: Result) -> dict[str, Any]:
    assert result.code == 0, result.stderr[-4000:]
    assert result.report["result"] == "succeeded", result.report
    return result.report


def _matches_compose(deployed: Deployed) -> None:
    """Images, environment and mounts of the running containers are those `docker compose
    config` gives for the bundle's files and .env."""
    config = deployed.compose_config()
    running = deployed.inspect()
    one_shot = {j["service"] for j in deployed.stack.jobs}
    assert set(config["services"]) - one_shot == deployed.stack.services, config["services"].keys()
    assert set(running) == deployed.stack.services, set(running)
    for name, container in running.items():
        service = config["services"][name]
        image = container["Config"]["Image"]
        assert image == service["image"], (name, image, service["image"])
        env = dict(e.split("=", 1) for e in container["Config"]["Env"])
        for key, value in (service.get("environment") or {}).items():
            assert env.get(key) == value, (name, key, env.get(key), value)
        assert _mounts(container, deployed.kit.remote_dir) == _declared(
            service, deployed.kit.bundle, deployed.stack.project
        ), name


def _mounts(container: dict[str, Any], remote_dir: str) -> set[tuple[str, str, str, bool]]:
    rows = set()
    for m in container["Mounts"]:
        if m["Type"] == "bind":
            source = re.sub(r"^\.dockyard/releases/[^/]+/files/", "",
                            str(Path(m["Source"]).relative_to(remote_dir)))  # fmt: skip
        else:
            source = m["Name"] if not re.fullmatch(r"[0-9a-f]{64}", m["Name"]) else ""
        rows.add((m["Type"], source, m["Destination"], not m["RW"]))
    return rows


def _declared(
    service: dict[str, Any], bundle: Path, project: str
) -> set[tuple[str, str, str, bool]]:
    rows = set()
    for v in service.get("volumes") or []:
        if v["type"] == "bind":
            source = str(Path(v["source"]).relative_to(bundle))
        else:
            source = f"{project}_{v['source']}" if v.get("source") else ""
        rows.add((v["type"], source, v["target"], bool(v.get("read_only"))))
    return rows


def test_first_deploy_runs_the_stack_as_compose_would(real: Deployed) -> None:
    report = _ok(real.deploy(0))
    real.history["first"] = report
    _matches_compose(real)
    real.ids["first"] = real.running()
    if real.stack.job_saw:
        outputs = real.job_outputs()
        assert len(outputs) == 1, outputs
        assert real.stack.job_saw[0] in next(iter(outputs.values())), outputs
    if real.stack.floating:
        assert "generation 1" in real.served_version()


def test_redeploy_of_the_same_release_is_a_noop(real: Deployed) -> None:
    jobs_before = real.job_outputs()
    again = real.deploy(0)
    report = _ok(again)
    assert report["flow_run_id"] == "", "an unchanged host needs no flow run"
    assert again.host()["unchanged"] == [real.stack.project]
    assert list(again.steps()) == ["converge"]
    assert real.running() == real.ids["first"]
    assert real.job_outputs() == jobs_before, "no job runs again"


def test_new_release_sees_its_files_and_pulls_the_moved_tag(real: Deployed, lab: Lab) -> None:
    if real.stack.floating:
        _push(lab, standins.n8n(2))
    result = real.deploy(1)
    _ok(result)
    after = real.running()
    real.ids["release"] = after
    recreated = {s for s in after if after[s] != real.ids["first"].get(s)}
    assert recreated == real.stack.changed_by_release, recreated
    _matches_compose(real)
    if real.stack.job_saw:
        outputs = list(real.job_outputs().values())
        assert outputs and real.stack.job_saw[1] in outputs[-1], outputs
        assert real.stack.job_saw[0] not in outputs[-1]
    if real.stack.floating:
        ref = lab_image(real.stack.floating)
        actions = {i["image"]: i["action"] for i in result.host()["images"]}
        assert actions.get(ref) == "pull", actions
        assert "generation 2" in real.served_version()


def test_rollback_recreates_only_what_differs(real: Deployed, lab: Lab) -> None:
    if real.stack.floating:
        _push(lab, standins.n8n(1))  # upstream moved the tag back: nothing to pin
    rolled = real.kit.run("rollback")
    assert rolled.code == 0, rolled.stdout[-3000:] + rolled.stderr[-3000:]
    after = real.running()
    recreated = {s for s in after if after[s] != real.ids["release"].get(s)}
    assert recreated == real.stack.changed_by_release, recreated
    install_release(real.stack, 0, real.kit.bundle)
    _matches_compose(real)
    real.ids["rolled_back"] = after
    if real.stack.floating:
        assert "generation 1" in real.served_version()


def test_deploy_of_the_rolled_back_release_is_a_noop(real: Deployed) -> None:
    jobs_before = real.job_outputs()
    again = real.deploy(0)
    report = _ok(again)
    assert report["flow_run_id"] == "", again.host()
    assert real.running() == real.ids["rolled_back"]
    assert real.job_outputs() == jobs_before
