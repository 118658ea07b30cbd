"""Release identity: the digest of a bundle tree and the hash of what a config puts on a host.

The release id (`r-` + 16 hex of config_hash) keys the step cache and the host's release
records, so any change to what is deployed gives a new release."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dockyard.config import ConfigError, DeployConfig, Problem, StackConfig

_SECRET_SALT = b"dockyard.config_hash.v1:"


def bundle_digest(bundle: Path) -> str:
    """sha256 over a directory tree: relative names, file contents, exec bits, symlink targets."""
    digest = hashlib.sha256()

    def walk(directory: Path, prefix: str) -> None:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            name = os.fsencode(prefix + entry.name)
            if entry.is_symlink():
                digest.update(b"L" + name + b"\0" + os.fsencode(os.readlink(entry.path)) + b"\0")
            elif entry.is_dir():
                walk(Path(entry.path), f"{prefix}{entry.name}/")
            elif entry.is_file():
                with open(entry.path, "rb") as f:
                    content = hashlib.file_digest(f, "sha256").digest()
                mode = b"x" if entry.stat().st_mode & 0o111 else b"-"
                digest.update(b"F" + mode + name + b"\0" + content)

    walk(bundle, "")
    return digest.hexdigest()


def _secret_digest(name: str, secret: SecretStr) -> dict[str, str]:
    salt = _SECRET_SALT + name.encode()
    value = secret.get_secret_value().encode()
    return {"scrypt": hashlib.scrypt(value, salt=salt, n=2**14, r=8, p=1).hex()}


def _stack_doc(stack: StackConfig, index: int) -> dict[str, Any]:
    doc = stack.model_dump(mode="json", exclude={"bundle", "env"})
    doc["env"] = {
        k: _secret_digest(k, v) if isinstance(v, SecretStr) else v for k, v in stack.env.items()
    }
    try:
        doc["bundle"] = bundle_digest(stack.bundle)
    except OSError as exc:
        problem = Problem(
            ("stacks", index, "bundle"),
            f"cannot read {exc.filename}: {exc.strerror or exc}",
            "make every file in the bundle readable",
        )
        raise ConfigError(stack.bundle, [problem]) from None
    return doc


def config_hash(config: DeployConfig) -> str:
    """A stable sha256 of what a deploy puts on a host, for cache keys and release records.

    Covers the stacks (bundle contents instead of the local bundle path; secret env values as
    salted scrypt digests, so a rotated secret changes the hash without exposing it), images,
    disk, and each target's name, host, port and user. Leaves out how dockyard connects and
    runs (key sources, host keys, keepalive, step policies) and registry passwords.
    """
    doc = {
        "targets": [
            t.model_dump(mode="json", include={"name", "host", "port", "user"})
            for t in config.targets
        ],
        "stacks": [_stack_doc(s, i) for i, s in enumerate(config.stacks)],
        "images": config.images.model_dump(mode="json"),
        "disk": config.disk.model_dump(mode="json"),
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
