"""What the lint and validate tests share: a good bundle on disk and a deploy.yaml around a stack
with one lab-shaped target (a 0600 key, a pinned host key)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

GOOD = """\
include:
  - parts/db.yml
services:
  web:
    image: app:1
    env_file: [.env, conf/web.env, {path: conf/optional.env, required: false}]
  worker:
    extends: {file: common.yml, service: base}
"""


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def good_bundle(tmp_path: Path) -> Path:
    """tmp_path/stack: GOOD with the files it includes, extends and reads."""
    root = tmp_path / "stack"
    write(
        root,
        {
            "docker-compose.yml": GOOD,
            "parts/db.yml": "services:\n  db:\n    image: postgres:16\n",
            "conf/web.env": "A=1\n",
            "common.yml": "services:\n  base:\n    image: app:1\n",
        },
    )
    return root


def deploy_yaml(tmp_path: Path, stack: dict[str, Any]) -> Path:
    """tmp_path/deploy.yaml with target vm1 (127.0.0.1:2222, ./key, ./known_hosts) and `stack`."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    (tmp_path / "key").write_bytes(private)
    (tmp_path / "key").chmod(0o600)
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:2222 {public.decode()}\n")
    config = {
        "targets": [{"name": "vm1", "host": "127.0.0.1", "port": 2222, "user": "root",
                     "key_file": "./key", "known_hosts": "./known_hosts"}],
        "stacks": [stack],
    }  # fmt: skip
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path
