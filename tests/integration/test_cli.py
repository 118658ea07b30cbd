"""The CLI against the lab: exec over the link, plan as JSON, lint and pin of the example."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml

from dockyard.images.ref import ImageRef
from dockyard.images.registry import RegistryClient
from dockyard.lab.lab import Lab
from dockyard.lint.compose import lint_compose
from tests.integration.deploykit import (
    DOCKYARD,
    EXAMPLE,
    Deploy,
    moved_latest,
    release_vars,
    unreachable,
)


def _cli(deploy: Deploy, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKYARD, *args], capture_output=True, text=True, timeout=timeout,
                          env=deploy.env, stdin=subprocess.DEVNULL)  # fmt: skip


def _sets(version: str) -> list[str]:
    return [f"--set={k}={v}" for k, v in release_vars(version).items()]


def test_exec_streams_output_and_returns_the_exit_status(deploy: Deploy) -> None:
    ok = _cli(deploy, "exec", "-c", str(deploy.config), *_sets("v1"), "--",
              "sh", "-c", "echo out; echo err >&2; exit 7")  # fmt: skip
    assert ok.returncode == 7
    assert ok.stdout.strip() == "out"
    assert "err" in ok.stderr
    compose = _cli(deploy, "exec", "-c", str(deploy.config), *_sets("v1"), "--",
                   "docker", "compose", "version", "--short")  # fmt: skip
    assert compose.returncode == 0 and compose.stdout.strip() == "2.40.3"


def test_exec_exits_255_when_the_link_cannot_be_built(deploy: Deploy) -> None:
    doc = yaml.safe_load(deploy.config.read_text())
    doc["targets"] = [unreachable(doc["targets"][0], deploy.lab)]
    deploy.config.write_text(yaml.safe_dump(doc))
    lost = _cli(deploy, "exec", "-c", str(deploy.config), *_sets("v1"), "--", "true")
    assert lost.returncode == 255
    assert "vm1" in lost.stderr and "down" in lost.stderr


def test_plan_json_lists_every_image_with_kind_action_and_reason(deploy: Deploy) -> None:
    deploy.forget_images("127.0.0.1:5000/dockyard/app:v3")
    planned = _cli(deploy, "plan", "--json", "-c", str(deploy.config), *_sets("v3"))
    assert planned.returncode == 0, planned.stderr
    rows = json.loads(planned.stdout)
    by_service = {r["service"]: r for r in rows}
    assert {
        "app",
        "postgres",
        "proxy",
        "gateway",
        "autoheal",
        "tools",
        "worker",
        "migrator",
    } <= set(by_service)
    assert "metrics" not in by_service
    kinds = {s: by_service[s]["kind"] for s in ("app", "postgres", "gateway", "autoheal", "tools")}
    assert kinds == {"app": "per-deploy", "postgres": "version", "gateway": "digest",
                     "autoheal": "mutable", "tools": "mutable"}  # fmt: skip
    assert by_service["app"]["action"] == "pull"
    assert all(r["reason"] and r["host"] == "vm1" for r in rows)
    assert not deploy.container_ids(), "plan must not change the host"


def test_lint_finds_the_mutable_and_untagged_images_of_the_example(deploy: Deploy) -> None:
    linted = _cli(deploy, "lint", str(EXAMPLE / "stack" / "docker-compose.yml"))
    assert linted.returncode == 1
    assert "service autoheal" in linted.stdout and "service tools" in linted.stdout
    assert "docker-compose.yml" in linted.stdout


def test_pin_resolves_tags_to_the_registry_digests_and_passes_lint(
    lab: Lab, tmp_path: Path
) -> None:
    compose = tmp_path / "docker-compose.yml"
    text = (EXAMPLE / "stack" / "docker-compose.yml").read_text()
    compose.write_text(
        text.replace("127.0.0.1:5002/dockyard/worker:1.0", "127.0.0.1:5000/dockyard/redis:7.2")
    )
    pinned = subprocess.run([DOCKYARD, "pin", str(compose)], capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert pinned.returncode == 0, pinned.stderr
    out = tmp_path / "pinned.yml"
    out.write_text(pinned.stdout)
    environ = {"APP_IMAGE": "x:1", "MIGRATOR_IMAGE": "y:1", "DB_PASSWORD": "p"}
    findings = [f for f in lint_compose(out, environ=environ) if f.failing]
    assert findings == []
    with RegistryClient() as registry:
        for image in ("autoheal:latest", "redis:7.2", "postgres:15"):
            ref = ImageRef.parse(f"127.0.0.1:5000/dockyard/{image}")
            assert f"{image}@{registry.manifest_digest(ref)}" in pinned.stdout
    assert pinned.stdout.count("# ") == text.count("# ")


def test_latest_changed_upstream_is_pulled_by_digest_unchanged_is_skipped(
    deploy: Deploy, lab: Lab
) -> None:
    assert deploy.deploy("v1").code == 0
    again = deploy.run("deploy", "--json", "--force", variables=release_vars("v1"))
    autoheal = next(i for i in again.host()["images"] if "autoheal" in i["image"])
    assert autoheal["action"] == "skip" and "unchanged" in autoheal["reason"]
    with moved_latest(lab) as changed:
        moved = deploy.deploy("v2")
        assert moved.code == 0, moved.stderr[-2000:]
        autoheal = next(i for i in moved.host()["images"] if "autoheal" in i["image"])
        assert autoheal["action"] == "pull"
        assert changed.digest[:19] in autoheal["reason"] or "differs" in autoheal["reason"]
        running = deploy.host(f"docker inspect --format '{{{{.Image}}}}' "
                              f"{deploy.container_ids()['autoheal']}").strip()  # fmt: skip
        assert running == changed.config.digest
