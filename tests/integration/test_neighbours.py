"""A neighbour on the same engine survives dockyard: project "billing" created but stopped
(digest-pinned images, a job image pulled by digest, an image that exists only on this host)
and a stand-alone stopped container outlive a deploy whose disk gate prunes and the cleanup
after it, while the deploy's own old release images go."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dockyard.lab.catalog import app, migrator
from dockyard.lab.images import BuiltImage, RandomLayer, RegistryPusher, SyntheticImage, build
from tests.integration.deploykit import REGISTRY, Deploy

MB = 1_000_000
BIG_MIGRATOR = 120 * MB
"""v1's migration image: big enough that the prune's effect stands out from other writes."""


class Neighbour:
    """Billing's compose project, its images and a stand-alone container; and the test's own
    app/migrator releases. Everything made here is removed by `remove()`."""

    def __init__(self, deploy: Deploy, tmp: Path) -> None:
        self.deploy = deploy
        self.uid = secrets.token_hex(4)
        self.project = f"billing-{self.uid}"
        self.tmp = tmp
        self.registry = f"127.0.0.1:{deploy.lab.layout.ports.registry_direct}"
        self.pushed: list[tuple[str, str]] = []
        self.refs: list[str] = []

    def sh(self, command: str) -> str:
        return self.deploy.host(command, timeout=180)

    def push(self, spec: SyntheticImage) -> BuiltImage:
        built = build(spec)
        with RegistryPusher(f"http://{self.registry}") as pusher:
            pusher.push(built)
        self.pushed.append((spec.repository, built.digest))
        return built

    def image_id(self, ref: str) -> str:
        return self.sh(f"docker image inspect --format '{{{{.Id}}}}' {ref}").strip()

    def releases(self) -> dict[str, str]:
        """Push v1 (app and a big migrator) and v2 of this test's own per-deploy images."""
        v1, v2 = f"p{self.uid}-v1", f"p{self.uid}-v2"
        self.push(app(v1))
        self.push(app(v2))
        big = replace(migrator(v1), layers=(RandomLayer(f"migrator-{v1}", BIG_MIGRATOR),))
        self.push(big)
        self.push(migrator(v2))
        refs = {
            "app1": f"{REGISTRY}/app:{v1}",
            "app2": f"{REGISTRY}/app:{v2}",
            "mig1": f"{REGISTRY}/migrator:{v1}",
            "mig2": f"{REGISTRY}/migrator:{v2}",
        }
        self.refs += refs.values()
        return refs

    def create(self) -> dict[str, Any]:
        """Billing, created and never started, plus a stand-alone stopped container."""
        api = self.push(
            SyntheticImage(
                f"dockyard/billing-api-{self.uid}",
                "1",
                layers=(RandomLayer(f"billing-api-{self.uid}", MB),),
            )
        )
        job = self.push(
            SyntheticImage(
                f"dockyard/billing-job-{self.uid}",
                "1",
                layers=(RandomLayer(f"billing-job-{self.uid}", MB),),
            )
        )
        api_ref = f"{REGISTRY}/billing-api-{self.uid}:1@{api.digest}"
        job_ref = f"{REGISTRY}/billing-job-{self.uid}@{job.digest}"
        self.sh(f"docker pull -q {job_ref}")
        local = f"billing-local-{self.uid}:1"
        rootfs = self.tmp / "rootfs.tar"
        with tarfile.open(rootfs, "w") as tar:
            info = tarfile.TarInfo("etc/billing")
            data = f"only on this host {self.uid}\n".encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        self.sh(f"docker import {rootfs} {local}")
        compose = self.tmp / "billing.yml"
        compose.write_text(
            yaml.safe_dump(
                {
                    "services": {
                        "api": {"image": api_ref, "command": ["/bin/sh", "/srv/entry.sh"]},
                        "cron": {"image": api_ref, "command": ["/bin/sh", "-c", "sleep 1"]},
                        "worker": {"image": local, "command": ["/nothing"]},
                    }
                }
            )
        )
        self.sh(f"docker compose -p {self.project} -f {compose} up --no-start")
        containers = self.sh(
            f"docker ps -aq --no-trunc --filter label=com.docker.compose.project={self.project}"
        ).split()
        for cid in containers:
            self.sh(f"docker cp {rootfs} {cid}:/written-by-billing.tar")
        solo = self.sh(f"docker create --name solo-{self.uid} --network none {local} /x").strip()
        return {
            "containers": set(containers),
            "solo": solo,
            "images": {self.image_id(api_ref), self.image_id(job_ref), self.image_id(local)},
            "job": self.image_id(job_ref),
        }

    def alive(self) -> tuple[set[str], set[str]]:
        """Container IDs and image IDs on the engine now."""
        return (
            set(self.sh("docker ps -aq --no-trunc").split()),
            set(self.sh("docker image ls -aq --no-trunc").split()),
        )

    def remove(self) -> None:
        self.sh(
            f"docker rm -f solo-{self.uid}; docker compose -p {self.project} -f "
            f"{self.tmp / 'billing.yml'} down --rmi all --timeout 1"
        )
        self.sh(f"docker rmi -f billing-local-{self.uid}:1")
        for repo, digest in self.pushed:
            self.sh(
                f"docker image ls -q --no-trunc --filter reference='*/{repo}*' "
                f"| sort -u | xargs -r docker rmi -f"
            )
            url = f"http://{self.registry}/v2/{repo}/manifests/{digest}"
            httpx.delete(url, timeout=10)


def keep_one_release(doc: dict[str, Any]) -> None:
    doc["disk"]["keep_releases"] = 1


def set_gate(deploy: Deploy, min_free_gb: float) -> None:
    doc = yaml.safe_load(deploy.config.read_text())
    doc["disk"].update(min_free_gb=min_free_gb, max_used_pct=100)
    deploy.config.write_text(yaml.safe_dump(doc, sort_keys=False))


def free_bytes(deploy: Deploy) -> int:
    fs = os.statvfs(deploy.lab.layout.docker_data)
    return fs.f_bavail * fs.f_frsize


@pytest.mark.deploy_config.with_args(keep_one_release)
def test_a_neighbour_survives_a_pruning_deploy_and_its_cleanup(
    deploy: Deploy, tmp_path: Path
) -> None:
    neighbour = Neighbour(deploy, tmp_path)
    try:
        refs = neighbour.releases()
        billing = neighbour.create()
        first = deploy.run(
            "deploy",
            "--json",
            variables={"APP_IMAGE": refs["app1"], "MIGRATOR_IMAGE": refs["mig1"]},
        )
        assert first.code == 0, first.stderr[-3000:]
        v2 = {"APP_IMAGE": refs["app2"], "MIGRATOR_IMAGE": refs["mig2"]}
        second = deploy.run("deploy", "--json", variables=v2)
        assert second.code == 0, second.stderr[-3000:]
        big = neighbour.image_id(refs["mig1"])
        assert big, "v1's migrator is on the host until a prune needs its space"

        set_gate(deploy, (free_bytes(deploy) + BIG_MIGRATOR // 2) / 1e9)
        pruning = deploy.run("deploy", "--json", variables=v2)
        assert pruning.code == 0, pruning.stderr[-3000:]

        host = pruning.host()
        gate = next(p for p in host["prunes"] if p["step"] == "disk gate")
        assert gate["outcome"].startswith("gate passes after pruning"), gate
        assert f"image {refs['mig1']} (" in "\n".join(gate["removed"]), gate
        containers, images = neighbour.alive()
        assert billing["containers"] <= containers and billing["solo"] in containers
        assert billing["images"] <= images, "billing's pinned, pulled-by-digest, local images"
        assert big not in images
        assert neighbour.image_id(refs["app2"]) in images
        for cid in billing["containers"]:
            listing = neighbour.sh(f"docker export {cid} | tar -t")
            assert "written-by-billing.tar" in listing, "its writable layer is intact"
        assert pruning.steps()["cleanup"]["state"] == "Completed"
        assert billing["job"] in images
    finally:
        neighbour.remove()


def test_a_gate_pruning_cannot_pass_fails_naming_who_holds_the_space(
    deploy: Deploy, tmp_path: Path
) -> None:
    neighbour = Neighbour(deploy, tmp_path)
    try:
        billing = neighbour.create()
        set_gate(deploy, (free_bytes(deploy) + 10**12) / 1e9)
        failed = deploy.deploy("v1")
        assert failed.code == 1
        host = failed.host()
        assert host["error"].startswith("GateStillFails: disk gate still fails"), host["error"]
        assert "lower the thresholds under disk:" in host["error"]
        assert "pull" not in " ".join(failed.steps()), "nothing pulled past a failed gate"
        (gate,) = host["prunes"]
        assert gate["outcome"].startswith("gate still fails")
        mine = next(h for h in gate["holders"] if h.startswith(f"project {neighbour.project} "))
        assert mine.startswith(f"project {neighbour.project} (not dockyard's): 3 container(s) (3")
        assert "stand-alone containers (not dockyard's)" in "\n".join(gate["holders"])
        containers, images = neighbour.alive()
        assert billing["containers"] <= containers and billing["solo"] in containers
        assert billing["images"] <= images
    finally:
        neighbour.remove()
