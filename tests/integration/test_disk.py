"""The disk gate and prune against the lab engine: what survives, what goes, and when it stops."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from dockyard.disk import (
    GB,
    DiskGate,
    PruneStep,
    disk_status,
    docker_root_dir,
    ensure_space,
    list_images,
)
from dockyard.errors import DiskPressure
from dockyard.lab.images import RandomLayer, RegistryPusher, SyntheticImage, build
from dockyard.lab.lab import Lab

FILL_MB = 200
REPOSITORY = "dockyard/disktest"


class Engine:
    """The lab engine through the docker CLI, plus what this test put on it (to clean up)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.uid = secrets.token_hex(4)
        self.registry = f"127.0.0.1:{lab.layout.ports.registry_direct}"
        self.repo = f"{self.registry}/{REPOSITORY}"
        self.env = {**os.environ, "DOCKER_HOST": lab.layout.docker_host}
        self.pushed: list[str] = []
        self.images: set[str] = set()
        self.foreign = {image.id for image in list_images(self.run)}

    def run(self, command: str) -> str:
        """Run a shell command against the engine (bounded); raise with stderr on failure."""
        done = subprocess.run(
            command,
            shell=True,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{command!r} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def push(self, name: str) -> tuple[str, str]:
        """Push a small image unique to this test; its tagged reference and manifest digest."""
        tag = f"{self.uid}-{name}"
        spec = SyntheticImage(REPOSITORY, tag, layers=(RandomLayer(tag, 65536),))
        built = build(spec)
        with RegistryPusher(f"http://{self.registry}") as pusher:
            pusher.push(built)
        self.pushed.append(built.digest)
        return f"{self.repo}:{tag}", built.digest

    def pull(self, ref: str) -> str:
        """Pull `ref` and return the image ID."""
        self.run(f"docker pull -q {ref}")
        image_id = self.image_id(ref)
        self.images.add(image_id)
        return image_id

    def image_id(self, ref: str) -> str:
        return self.run(f"docker image inspect --format '{{{{.Id}}}}' {ref}").strip()

    def has_image(self, image_id: str) -> bool:
        return image_id in {image.id for image in list_images(self.run)}

    def stopped_container(self, image: str, project: str | None) -> str:
        """A created (never started) container of `image`, labelled as compose would."""
        label = f"--label com.docker.compose.project={project}" if project else ""
        return self.run(
            f"docker create --network none --label dev.dockyard.disktest={self.uid} {label} {image}"
        ).strip()

    def commit(self, container: str, name: str) -> str:
        """Commit `container` (then remove it) as an image whose parent is the container's."""
        ref = f"{self.repo}:{self.uid}-{name}"
        self.run(f"docker commit {container} {ref}")
        self.run(f"docker rm {container}")
        image_id = self.image_id(ref)
        self.images.add(image_id)
        return image_id

    def containers(self) -> set[str]:
        out = self.run(f"docker ps -aq --no-trunc --filter label=dev.dockyard.disktest={self.uid}")
        return set(out.split())

    def protected_foreign(self) -> set[str]:
        """Every image not made by this test, and every lab catalog image by tag and digest.

        Other sessions share the engine: their images must survive this test's prune, also
        catalog images they pull while it runs.
        """
        current = {image.id for image in list_images(self.run)} - self.images
        hosts = (
            self.lab.layout.registry_host,
            self.registry,
            self.lab.layout.registry_auth_host,
            f"127.0.0.1:{self.lab.layout.ports.registry_auth_direct}",
        )
        catalog = {
            f"{host}/{ref}@{digest}"
            for ref, digest in self.lab.state.images.items()
            for host in hosts
        }
        return current | self.foreign | catalog

    def clean(self) -> None:
        """Remove this test's containers, images and registry manifests."""
        if containers := self.containers():
            self.run("docker rm -f " + " ".join(containers))
        present = {image.id for image in list_images(self.run)}
        for image_id in self.images & present:
            self.run(f"docker rmi -f {image_id}")
        for digest in self.pushed:
            httpx.delete(f"http://{self.registry}/v2/{REPOSITORY}/manifests/{digest}", timeout=10)


@pytest.fixture()
def engine(lab: Lab) -> Iterator[Engine]:
    engine = Engine(lab)
    try:
        yield engine
    finally:
        engine.clean()


def test_disk_status_reads_the_filesystem_of_the_engine_data_root(engine: Engine) -> None:
    root = docker_root_dir(engine.run)
    status = disk_status(engine.run, root)
    fs = os.statvfs(root)
    assert root == str(engine.lab.layout.docker_data)
    assert status.total_bytes == fs.f_blocks * fs.f_frsize
    assert abs(status.free_bytes - fs.f_bavail * fs.f_frsize) < 256 * 1024 * 1024
    assert 0 < status.used_pct <= 100


def test_pressure_that_pruning_cannot_fix_keeps_protected_and_used_images(
    engine: Engine,
) -> None:
    run = engine.run
    project = f"disktest-{engine.uid}"
    current, _ = engine.push("current")
    current_id = engine.pull(current)
    _, release_digest = engine.push("release")
    release_id = engine.pull(f"{engine.repo}@{release_digest}")
    by_id, _ = engine.push("by-id")
    by_id_id = engine.pull(by_id)
    own, _ = engine.push("own")
    own_id = engine.pull(own)
    own_container = engine.stopped_container(own, project)
    loose, _ = engine.push("loose")
    loose_id = engine.pull(loose)
    _, loose_digest = engine.push("loose-digest")
    loose_digest_id = engine.pull(f"{engine.repo}@{loose_digest}")
    two_repos, _ = engine.push("two-repos")
    two_repos_id = engine.pull(two_repos)
    run(f"docker tag {two_repos} {engine.repo}-alias:{engine.uid}")
    other, _ = engine.push("other")
    other_id = engine.pull(other)
    engine.stopped_container(other, f"{project}-other")
    plain, _ = engine.push("plain")
    plain_id = engine.pull(plain)
    engine.stopped_container(plain, None)
    chain_parent, _ = engine.push("chain-parent")
    chain_parent_id = engine.pull(chain_parent)
    chain_child_id = engine.commit(engine.stopped_container(chain_parent, None), "chain-child")
    run(f"docker rmi {chain_parent}")

    root = docker_root_dir(run)
    total = disk_status(run, root).total_bytes
    protected = engine.protected_foreign() | {
        current,
        f"{engine.repo}:never-pulled@{release_digest}",
        by_id_id,
    }
    said: list[str] = []
    with pytest.raises(DiskPressure) as raised:
        ensure_space(
            run,
            root,
            DiskGate(min_free_gb=total / GB + 1, max_used_pct=100),
            protected=protected,
            project=project,
            say=said.append,
        )

    message = str(raised.value)
    assert "free <" in message and "disk:" in message
    assert any("unreferenced-images" in line for line in said)
    survivors = {current_id, release_id, by_id_id, own_id}
    gone = {loose_id, loose_digest_id, two_repos_id, other_id, plain_id}
    gone |= {chain_parent_id, chain_child_id}
    present = {image.id for image in list_images(run)}
    assert survivors <= present
    assert not gone & present
    assert engine.containers() == {own_container}


def test_prune_stops_as_soon_as_the_gate_passes(engine: Engine) -> None:
    run = engine.run
    base, _ = engine.push("base")
    base_id = engine.pull(base)
    loose, _ = engine.push("loose")
    loose_id = engine.pull(loose)
    fill = f"disktest-{engine.uid}-fill"
    run(
        f"docker run --name {fill} --network none --label dev.dockyard.disktest={engine.uid}"
        f" --entrypoint /bin/busybox {base}"
        f" dd if=/dev/urandom of=/srv/fill bs=1M count={FILL_MB}"
    )
    big_id = engine.commit(fill, "big")

    root = docker_root_dir(run)
    protected = engine.protected_foreign()
    start = disk_status(run, root)
    needed = start.free_bytes + FILL_MB * 1_000_000 // 2
    report = ensure_space(
        run,
        root,
        DiskGate(min_free_gb=needed / GB, max_used_pct=100),
        protected=protected,
        project=f"disktest-{engine.uid}",
        say=lambda _line: None,
    )

    assert report.passed
    assert [step for step, _ in report.steps] == list(PruneStep)
    assert report.removed_images[-1] == big_id
    assert report.steps[-1][1] >= FILL_MB * 1_000_000 // 2
    assert report.after.free_bytes >= needed
    assert engine.has_image(base_id) and engine.has_image(loose_id)
    assert not engine.has_image(big_id)
