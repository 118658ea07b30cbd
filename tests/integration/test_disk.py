"""The disk gate and prune against the lab engine, through the SSH link: only what dockyard
owns goes (its stack's stopped containers, its releases' images), and it stops when it can."""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from dockyard.deadline import Deadline
from dockyard.disk.gate import GB, DiskGate, disk_status
from dockyard.disk.inventory import read_inventory
from dockyard.disk.ownership import Ownership, OwnStack
from dockyard.disk.prune import GateStillFails, PruneStep, ensure_space
from dockyard.host.releases import Release
from dockyard.lab.images import RandomLayer, RegistryPusher, SyntheticImage, build
from dockyard.lab.lab import Lab
from dockyard.masking import Masker
from dockyard.runner import LinkRunner
from dockyard.ssh.link import Link
from dockyard.ssh.settings import LinkSettings

FILL_MB = 200
REPOSITORY = "dockyard/disktest"


class Engine:
    """The lab engine through the docker CLI, plus what this test put on it (to clean up)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.uid = secrets.token_hex(4)
        self.project = f"disktest-{self.uid}"
        self.remote_dir = f"/srv/disktest-{self.uid}"
        self.registry = f"127.0.0.1:{lab.layout.ports.registry_direct}"
        self.repo = f"{self.registry}/{REPOSITORY}"
        self.env = {**os.environ, "DOCKER_HOST": lab.layout.docker_host}
        self.pushed: list[str] = []
        self.images: list[str] = []

    def run(self, command: str) -> str:
        """Run a shell command against the engine (bounded); raise with stderr on failure."""
        done = subprocess.run(command, shell=True, env=self.env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{command!r} exited {done.returncode}: {done.stderr.strip()}")
        return done.stdout

    def push(self, name: str) -> tuple[str, str]:
        """Push a small image unique to this test; its tagged reference and manifest digest."""
        tag = f"{self.uid}-{name}"
        built = build(SyntheticImage(REPOSITORY, tag, layers=(RandomLayer(tag, 65536),)))
        with RegistryPusher(f"http://{self.registry}") as pusher:
            pusher.push(built)
        self.pushed.append(built.digest)
        return f"{self.repo}:{tag}", built.digest

    def pull(self, ref: str) -> str:
        """Pull `ref` and return the image ID."""
        self.run(f"docker pull -q {ref}")
        image_id = self.image_id(ref)
        self.images.append(image_id)
        return image_id

    def image_id(self, ref: str) -> str:
        return self.run(f"docker image inspect --format '{{{{.Id}}}}' {ref}").strip()

    def present(self) -> set[str]:
        return set(self.run("docker image ls -aq --no-trunc").split())

    def stopped_container(self, image: str, project: str | None, workdir: str = "") -> str:
        """A created (never started) container of `image`, labelled as compose would."""
        labels = f"--label dev.dockyard.disktest={self.uid}"
        if project:
            labels += f" --label com.docker.compose.project={project}"
            labels += (
                f" --label com.docker.compose.project.working_dir={workdir or self.remote_dir}"
            )
        return self.run(f"docker create --network none {labels} {image}").strip()

    def commit(self, container: str, name: str) -> str:
        """Commit `container` (then remove it) as an image whose parent is the container's."""
        ref = f"{self.repo}:{self.uid}-{name}"
        self.run(f"docker commit {container} {ref}")
        self.run(f"docker rm {container}")
        image_id = self.image_id(ref)
        self.images.append(image_id)
        return image_id

    def containers(self) -> set[str]:
        out = self.run(f"docker ps -aq --no-trunc --filter label=dev.dockyard.disktest={self.uid}")
        return set(out.split())

    def ownership(self, old: dict[str, str], kept: dict[str, str], now: list[str]) -> Ownership:
        """This test's stack owning a release with images `old`, then one with `kept`."""
        records = [Release(f"r{n}", "t", "pytest", "run", "succeeded", "h", images)
                   for n, images in enumerate((old, kept))]  # fmt: skip
        return Ownership.of([OwnStack(self.project, self.remote_dir, tuple(records))], now, 1)

    def clean(self) -> None:
        """Remove this test's containers, images and registry manifests."""
        if containers := self.containers():
            self.run("docker rm -f " + " ".join(containers))
        present = self.present()
        for image_id in reversed(self.images):
            if image_id in present:
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


@pytest.fixture()
def runner(lab: Lab) -> Iterator[LinkRunner]:
    """vm1 over SSH straight to sshd (not through the shared fault proxy)."""
    layout = lab.layout
    settings = LinkSettings(name="vm1", host="127.0.0.1", port=layout.ports.sshd,
                            key_file=layout.client_key, known_hosts=layout.known_hosts)  # fmt: skip
    with Link(settings) as link:
        yield LinkRunner(link, lambda _line: None, Masker())


def test_disk_status_reads_the_filesystem_of_the_engine_data_root(
    lab: Lab, runner: LinkRunner
) -> None:
    root = str(lab.layout.docker_data)
    status = disk_status(runner, Deadline("disk", 60), root)
    fs = os.statvfs(root)
    assert status.total_bytes == fs.f_blocks * fs.f_frsize
    assert abs(status.free_bytes - fs.f_bavail * fs.f_frsize) < 256 * 1024 * 1024
    assert 0 < status.used_pct <= 100


def test_pressure_that_pruning_cannot_fix_removes_only_what_the_stack_owns(
    engine: Engine, runner: LinkRunner
) -> None:
    run = engine.run
    current, _ = engine.push("current")
    current_id = engine.pull(current)
    _, kept_digest = engine.push("kept")
    kept_id = engine.pull(f"{engine.repo}@{kept_digest}")
    old, old_digest = engine.push("old")
    old_id = engine.pull(old)
    own_container = engine.stopped_container(old, engine.project)
    shared, shared_digest = engine.push("shared")
    shared_id = engine.pull(shared)
    run(f"docker tag {shared} {engine.repo}-neighbour:{engine.uid}")
    used, used_digest = engine.push("used")
    used_id = engine.pull(used)
    neighbour = engine.stopped_container(used, f"{engine.project}-other")
    elsewhere = engine.stopped_container(used, engine.project, workdir="/srv/elsewhere")
    plain, plain_digest = engine.push("plain")
    plain_id = engine.pull(plain)
    solo = engine.stopped_container(plain, None)
    foreign, _ = engine.push("foreign")
    foreign_id = engine.pull(foreign)
    repo = engine.repo
    ownership = engine.ownership(
        old={"a": f"{repo}@{old_digest}", "b": f"{repo}@{shared_digest}",
             "c": f"{repo}@{used_digest}", "d": f"{repo}@{plain_digest}"},
        kept={"a": f"{repo}@{kept_digest}"},
        now=[current],
    )  # fmt: skip

    root = str(engine.lab.layout.docker_data)
    deadline = Deadline("disk", 120)
    total = disk_status(runner, deadline, root).total_bytes
    said: list[str] = []
    with pytest.raises(GateStillFails) as raised:
        ensure_space(runner, deadline, root, DiskGate(total / GB + 1, 100), ownership, said.append)

    prune = raised.value.prune
    assert [r.kind for r in prune.removed] == ["container", "image"]
    assert prune.removed[1].name == old
    present = engine.present()
    assert {current_id, kept_id, shared_id, used_id, plain_id, foreign_id} <= present
    assert old_id not in present
    assert engine.containers() == {neighbour, elsewhere, solo}
    assert own_container not in engine.containers()
    holders = "\n".join(prune.holders)
    assert f"project {engine.project}-other (not dockyard's): 1 container(s)" in holders
    assert "stand-alone containers (not dockyard's)" in holders
    assert "free <" in str(raised.value) and "disk:" in str(raised.value)


def test_prune_stops_as_soon_as_the_gate_passes(engine: Engine, runner: LinkRunner) -> None:
    run = engine.run
    base, _ = engine.push("base")
    base_id = engine.pull(base)
    fill = f"disktest-{engine.uid}-fill"
    run(
        f"docker run --name {fill} --network none --label dev.dockyard.disktest={engine.uid}"
        f" --entrypoint /bin/busybox {base}"
        f" dd if=/dev/urandom of=/srv/fill bs=1M count={FILL_MB}"
    )
    big_id = engine.commit(fill, "big")
    ownership = engine.ownership(old={"big": big_id}, kept={}, now=[])

    root = str(engine.lab.layout.docker_data)
    deadline = Deadline("disk", 120)
    start = disk_status(runner, deadline, root)
    needed = start.free_bytes + FILL_MB * 1_000_000 // 2
    report = ensure_space(runner, deadline, root, DiskGate(needed / GB, 100), ownership,
                          lambda _line: None)  # fmt: skip

    assert report.passed
    assert [step for step, _ in report.steps] == list(PruneStep)
    assert [r.kind for r in report.removed] == ["image"]
    assert report.steps[-1][1] >= FILL_MB * 1_000_000 // 2
    assert report.after is not None and report.after.free_bytes >= needed
    images = {i.id for i in read_inventory(runner, deadline).images}
    assert base_id in images and big_id not in images
