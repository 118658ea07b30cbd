"""The bench work dir: the example stack on our registry name and ports, its deploy.yaml
variants, our known_hosts and the shell contenders' .env file."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.labsite import LabSite

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "lab"
REGISTRY = "127.0.0.1:5100"
REGISTRY_PORT = 5100
SSH_HOST = "127.0.0.1"
SSH_PORT = 2230
SSH_USER = "root"
PROJECT = "bench"
APP_PORT = 28080
PROXY_PORT = 28081
REMOTE_ROOT = "/srv/dockyard-lab/bench"
SILENT_SECONDS = 40
VERSION_URL = f"http://127.0.0.1:{APP_PORT}/version"

# (old, new) text edits of the example compose file; each must apply at least once.
_COMPOSE_EDITS = (
    ("name: shop", f"name: {PROJECT}"),
    ("127.0.0.1:5002/dockyard/worker:1.0", f"{REGISTRY}/dockyard/redis:7.2"),
    ("127.0.0.1:5000/", f"{REGISTRY}/"),
    ("127.0.0.1:18080:", f"127.0.0.1:{APP_PORT}:"),
    ("127.0.0.1:18081:", f"127.0.0.1:{PROXY_PORT}:"),
)


@dataclass(frozen=True)
class Workspace:
    """Files of one bench run under `root` (a temp dir)."""

    root: Path
    lab: LabSite
    db_password: str

    @classmethod
    def create(cls, root: Path, lab: LabSite) -> Workspace:
        """Write the stack copy, both deploy.yaml variants and known_hosts under `root`."""
        ws = cls(root, lab, secrets.token_urlsafe(18))
        shutil.copytree(EXAMPLE / "stack", ws.stack_dir)
        compose = ws.stack_dir / "docker-compose.yml"
        text = compose.read_text()
        for old, new in _COMPOSE_EDITS:
            if old not in text:
                raise ValueError(f"examples/lab/stack changed: {old!r} is gone; update bench")
            text = text.replace(old, new)
        compose.write_text(text)
        ws.known_hosts.write_text(
            "".join(f"[{SSH_HOST}]:{port} {lab.host_key}\n" for port in (SSH_PORT, 2225))
        )
        ws.config.write_text(yaml.safe_dump(ws._deploy_doc(silent=False), sort_keys=False))
        ws.write_silent_config("0")
        return ws

    @property
    def stack_dir(self) -> Path:
        return self.root / "stack"

    @property
    def config(self) -> Path:
        return self.root / "deploy.yaml"

    @property
    def silent_config(self) -> Path:
        """deploy.yaml with a first job that is silent for SILENT_SECONDS."""
        return self.root / "deploy-silent.yaml"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def env_file(self) -> Path:
        return self.root / "shell-env" / ".env"

    @property
    def pull_parallel(self) -> int:
        """images.parallel of the bench deploy.yaml: how many pulls dockyard runs at once."""
        doc = yaml.safe_load(self.config.read_text())
        return int(doc.get("images", {}).get("parallel", 3))

    def write_silent_config(self, nonce: str) -> Path:
        """deploy-silent.yaml for one deploy: `nonce` in the silent job's command makes it a
        release of its own, so dockyard runs the step instead of skipping it as done."""
        doc = self._deploy_doc(silent=True, nonce=nonce)
        self.silent_config.write_text(yaml.safe_dump(doc, sort_keys=False))
        return self.silent_config

    def remote_dir(self, contender: str) -> str:
        return f"{REMOTE_ROOT}/{contender}"

    def release_vars(self, version: str) -> dict[str, str]:
        """The per-deploy variables of release `version`."""
        return {"APP_IMAGE": image("app", version), "MIGRATOR_IMAGE": image("migrator", version)}

    def write_env_file(self, version: str) -> Path:
        """The .env the shell contenders upload: secrets in a 0600 file, not on a command line."""
        self.env_file.parent.mkdir(exist_ok=True)
        values = {**self.release_vars(version), "DB_PASSWORD": self.db_password}
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        self.env_file.chmod(0o600)
        return self.env_file

    def stack_images(self, version: str) -> list[str]:
        """Every image a deploy of `version` runs (active services plus the migrator job)."""
        doc = yaml.safe_load((self.stack_dir / "docker-compose.yml").read_text())
        refs = self.release_vars(version)
        images = []
        for service in doc["services"].values():
            if set(service.get("profiles", [])) - {"jobs"}:
                continue
            ref = service["image"]
            for name, value in refs.items():
                ref = ref.replace(f"${{{name}:?set {name}}}", value)
            images.append(ref)
        return sorted(set(images))

    def _deploy_doc(self, silent: bool, nonce: str = "") -> dict[str, Any]:
        doc = yaml.safe_load((EXAMPLE / "deploy.yaml").read_text())
        doc["targets"] = [
            {
                "name": "vm2",
                "host": SSH_HOST,
                "port": SSH_PORT,
                "user": SSH_USER,
                "key_file": str(self.lab.key_file),
                "known_hosts": str(self.known_hosts),
                "keepalive_interval": 15,
                "keepalive_count_max": 4,
            }
        ]
        stack = doc["stacks"][0]
        stack["project"] = PROJECT
        stack["bundle"] = str(self.stack_dir)
        stack["remote_dir"] = self.remote_dir("dockyard")
        stack["health"]["http"][0]["url"] = f"http://127.0.0.1:{APP_PORT}/health"
        stack["health"]["hooks"][0]["http"] = VERSION_URL
        if silent:
            warm = {
                "name": "warm",
                "service": "tools",
                "command": ["sh", "-c", f"sleep {SILENT_SECONDS}; : {nonce}"],
                "timeout": "2m",
            }
            stack["jobs"] = [warm, *stack["jobs"]]
        doc["images"].pop("registries", None)  # the worker now comes from our plain registry
        doc["images"]["services"].pop("worker", None)
        return doc


def image(repo: str, version: str) -> str:
    """A bench image reference (our registry name) for dockyard/`repo`:`version`."""
    return f"{REGISTRY}/dockyard/{repo}:{version}"
