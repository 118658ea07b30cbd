"""The VM side, done directly on the lab engine: stop the bench project, remove bench images,
spot images that pollute the byte counts, and end leftover processes of a dropped session."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from pathlib import Path

from bench.commands import Completed, run, run_checked
from bench.floor import EngineContent, chain_ids
from bench.labsite import LabSite
from bench.workspace import PROJECT, REGISTRY, REMOTE_ROOT

TEST_REGISTRY_PREFIX = "127.0.0.1:5000/dockyard/"


class Engine:
    """docker CLI calls on the lab engine's local socket; every call is bounded."""

    def __init__(self, lab: LabSite) -> None:
        self.env = lab.engine_env()

    def docker(self, *args: str, timeout: float = 120) -> Completed:
        return run(["docker", *args], timeout, self.env)

    def compose_down(self, volumes: bool = False) -> None:
        """Stop and remove the bench project's containers (volumes only if asked)."""
        extra = ["--volumes"] if volumes else []
        run_checked(
            ["docker", "compose", "-p", PROJECT, "down", "--remove-orphans", "--timeout", "2",
             *extra],
            timeout=180,
            env=self.env,
        )  # fmt: skip

    def bench_images(self) -> list[str]:
        """References (repo:tag, or repo@digest when untagged) of every image under our registry."""
        listing = self.docker(
            "images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}"
        )
        refs = []
        for line in listing.stdout.splitlines():
            repo, tag, digest = [*line.split(), "", "", ""][:3]
            if not repo.startswith(f"{REGISTRY}/"):
                continue
            if tag != "<none>":
                refs.append(f"{repo}:{tag}")
            elif digest != "<none>":
                refs.append(f"{repo}@{digest}")
        return sorted(set(refs))

    def remove_images(self, refs: list[str]) -> list[str]:
        """Remove these references (not by id, so other names of the same image stay); returns
        the errors other than 'No such image'."""
        errors = []
        for ref in refs:
            done = self.docker("rmi", ref)
            if not done.ok and "No such image" not in done.stderr:
                errors.append(f"docker rmi {ref}: {done.tail(2)}")
        return errors

    def prune_bench_images(self) -> list[str]:
        """Remove every image under our registry name, tagged and digest-only; returns errors."""
        errors = self.remove_images(self.bench_images())
        left = self.bench_images()
        if left:
            errors.append(f"still present after the prune: {', '.join(left)}")
        return errors

    def content(self) -> EngineContent:
        """Every image ID on the engine and every layer chain ID they hold."""
        ids = sorted(set(self.docker("images", "-q", "--no-trunc").stdout.split()))
        chains: set[str] = set()
        if ids:
            inspect = self.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", *ids)
            for line in inspect.stdout.splitlines():
                chains.update(chain_ids(json.loads(line) or []))
        return EngineContent(frozenset(ids), frozenset(chains))

    def polluting_images(self) -> list[str]:
        """Images of the integration tests' registry name: they share layers with ours, so
        our byte counts come out low while they exist."""
        listing = self.docker("images", "--format", "{{.Repository}}:{{.Tag}}")
        return sorted(x for x in listing.stdout.splitlines() if x.startswith(TEST_REGISTRY_PREFIX))

    def end_leftovers(self, remote_dir: str, grace: float = 5.0) -> list[int]:
        """End processes still working in `remote_dir` after their SSH session died (SIGTERM,
        then SIGKILL after `grace` s); returns their pids."""
        pids = _pids_in(remote_dir)
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.2)
        for pid in pids:
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
        return pids


def reset_remote_root() -> None:
    """Remove every bench remote dir (they hold only what bench deploys made)."""
    shutil.rmtree(REMOTE_ROOT, ignore_errors=True)


def _pids_in(remote_dir: str) -> list[int]:
    """Pids whose working directory is `remote_dir` or below it (never this process)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd == remote_dir or cwd.startswith(remote_dir + "/"):
            found.append(int(proc.name))
    return found


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
