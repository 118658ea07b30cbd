"""The lab's real reverse proxy image: Debian's caddy binary and the libraries it links."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from dockyard.lab.images import SyntheticImage
from dockyard.lab.procs import LabProcessError

PACKAGE = "caddy"
REPOSITORY = "dockyard/caddy"
TAG = "2.6"
BINARY = "usr/bin/caddy"
CONFIG = "/etc/caddy/Caddyfile"
LINKED = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def _run(argv: list[str], cwd: Path, what: str) -> str:
    """Run a packaging tool; a failure names the command and the fix."""
    tool = shutil.which(argv[0])
    if tool is None:
        raise LabProcessError(f"{argv[0]} not found: the lab's caddy image needs Debian's apt")
    done = subprocess.run([tool, *argv[1:]], cwd=cwd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise LabProcessError(
            f"{what} failed ({' '.join(argv)}): {done.stderr.strip()[-400:]}; "
            "run `apt-get update` (the lab downloads Debian's caddy package) and retry"
        )
    return done.stdout


def fetch_binary(cache: Path) -> Path:
    """Debian's caddy binary, downloaded (`apt-get download`) and unpacked into `cache` once."""
    root = cache / PACKAGE
    binary = root / "rootfs" / BINARY
    if binary.exists():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("*.deb"):
        old.unlink()
    _run(["apt-get", "download", PACKAGE], root, "downloading Debian's caddy package")
    debs = sorted(root.glob(f"{PACKAGE}_*.deb"))
    if not debs:
        raise LabProcessError(f"apt-get download {PACKAGE} left no .deb in {root}")
    partial = root / "rootfs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    _run(["dpkg-deb", "-x", str(debs[-1]), str(partial)], root, "unpacking caddy")
    shutil.rmtree(root / "rootfs", ignore_errors=True)
    partial.rename(root / "rootfs")
    return binary


def linked_libraries(binary: Path) -> dict[str, Path]:
    """The shared objects `binary` loads (as `ldd` names them) -> the host file to copy."""
    listing = _run(["ldd", str(binary)], binary.parent, "listing caddy's libraries")
    return parse_ldd(listing)


def parse_ldd(listing: str) -> dict[str, Path]:
    """Image path -> host file for each library line of `ldd` output (the vdso has no file)."""
    found: dict[str, Path] = {}
    for line in listing.splitlines():
        match = LINKED.search(line)
        if match:
            path = match.group(1)
            found[path.lstrip("/")] = Path(path).resolve()
    return found


def caddy_image(cache: Path) -> SyntheticImage:
    """dockyard/caddy:2.6: caddy with its libraries on the busybox base (wget for health);
    it serves the Caddyfile mounted at /etc/caddy/Caddyfile."""
    binary = fetch_binary(cache)
    libraries = linked_libraries(binary)
    search = sorted({"/" + str(Path(path).parent) for path in libraries})
    return SyntheticImage(
        REPOSITORY,
        TAG,
        cmd=("/usr/bin/caddy", "run", "--config", CONFIG, "--adapter", "caddyfile"),
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": "/tmp",
            "XDG_CONFIG_HOME": "/tmp/caddy-config",
            "XDG_DATA_HOME": "/tmp/caddy-data",
            "LD_LIBRARY_PATH": ":".join(search),
            "GODEBUG": "netdns=go",
        },
        host_files={BINARY: binary, **libraries},
    )
