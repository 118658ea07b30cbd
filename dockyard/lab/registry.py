"""The lab's OCI registries: Debian's docker-registry, plain and with htpasswd auth."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

from dockyard.lab.procs import LabProcessError

AUTH_USER = "dockyard"


def require_binary() -> str:
    """The registry program, or an error with the install command."""
    found = shutil.which("docker-registry")
    if not found:
        raise LabProcessError("missing docker-registry: run `apt-get install docker-registry`")
    return found


def write_config(root: Path, port: int, htpasswd: Path | None) -> Path:
    """A registry config storing under `root`, listening on 127.0.0.1:port."""
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "version: 0.1",
        "log: {level: warn}",
        "storage:",
        f"  filesystem: {{rootdirectory: {root / 'data'}}}",
        "  delete: {enabled: true}",
        "  cache: {blobdescriptor: inmemory}",
        f"http: {{addr: '127.0.0.1:{port}'}}",
    ]
    if htpasswd is not None:
        lines.append(f"auth: {{htpasswd: {{realm: dockyard-lab, path: {htpasswd}}}}}")
    config = root / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    return config


def ensure_credentials(root: Path) -> tuple[Path, str]:
    """The htpasswd file and password for the auth registry, made once (mode 0600)."""
    root.mkdir(parents=True, exist_ok=True)
    password_file = root / "password"
    htpasswd = root / "htpasswd"
    if not password_file.exists():
        password_file.touch(mode=0o600)
        password_file.write_text(secrets.token_urlsafe(18))
    password = password_file.read_text().strip()
    if not htpasswd.exists():
        tool = shutil.which("htpasswd")
        if not tool:
            raise LabProcessError("missing htpasswd: run `apt-get install apache2-utils`")
        done = subprocess.run(
            [tool, "-B", "-i", "-n", AUTH_USER],
            input=password,
            capture_output=True,
            text=True,
            timeout=30,
        )
        if done.returncode != 0:
            raise LabProcessError(f"htpasswd failed: {done.stderr.strip()}")
        htpasswd.write_text(done.stdout)
    return htpasswd, password
