"""Release identity: the digest of a bundle tree and the hash of what a config puts on a host.

The release id (`r-` + 16 hex of config_hash) keys the step cache and the host's release
records, so any change to what is deployed gives a new release. Secret values enter it only
as HMACs under a key the deployers share and a reader of a release id does not have
(release_key), so a release id seen in a log, the Prefect UI or on a host cannot be
brute-forced back to a short secret offline."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dockyard.config import (
    ConfigError,
    DeployConfig,
    Problem,
    SecretLookup,
    SecretSourceError,
    StackConfig,
)

RELEASE_KEY = "DOCKYARD_RELEASE_KEY"
MIN_KEY_CHARS = 32
MAX_KEY_BYTES = 64 << 10  # an SSH private key file is a few KiB
KEY_FIX = (
    f"set {RELEASE_KEY} to one random value (e.g. `openssl rand -hex 32`) wherever this"
    " config's secrets are set: every CI runner and pool worker of this installation"
)


def release_key(config: DeployConfig, lookup: SecretLookup | None = None) -> bytes:
    """The key for the secrets' part of release ids: the DOCKYARD_RELEASE_KEY environment
    variable, else the second secret source's (on Prefect workers the Secret block
    `dockyard-release-key`), else derived from the first target's SSH private key (every
    deployer of this config holds it, and whoever holds it can read the host's .env anyway, so
    a fresh CI runner computes the same release id and resumes the same attempt), else (agent
    keys) a random key kept in the user's config dir (~/.config/dockyard/release.key, 0600),
    made on first use. Deployers that share hosts must share the key."""
    value = os.environ.get(RELEASE_KEY) or (lookup(RELEASE_KEY) if lookup else None)
    if value is None:
        return _ssh_key_material(config) or _local_key()
    if len(value) < MIN_KEY_CHARS:
        raise SecretSourceError(
            f"{RELEASE_KEY} has {len(value)} characters; it needs at least {MIN_KEY_CHARS}",
            KEY_FIX,
        )
    return value.encode()


def _ssh_key_material(config: DeployConfig) -> bytes | None:
    """A key derived from the first target's SSH private key data (key_env or key_file)."""
    for target in config.targets:
        if target.private_key is not None:
            data = target.private_key.get_secret_value().encode()
        elif target.key_file is not None:
            try:
                with open(target.key_file.expanduser(), "rb") as handle:
                    data = handle.read(MAX_KEY_BYTES)
            except OSError:
                continue
        else:
            continue
        return hmac.new(b"dockyard.release-key.v1", data, hashlib.sha256).hexdigest().encode()
    return None


def _local_key() -> bytes:
    home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(home) / "dockyard" / "release.key"
    try:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            made = path.with_name(f".release.key.{os.getpid()}.{secrets.token_hex(4)}")
            made.write_text(secrets.token_hex(32))
            made.chmod(0o600)
            try:
                os.link(made, path)  # the first writer wins; the others read its key
            except FileExistsError:
                pass
            finally:
                made.unlink()
        key = path.read_text().strip()
    except OSError as exc:
        raise SecretSourceError(
            f"cannot keep the release key in {path}: {exc.strerror or exc}", KEY_FIX
        ) from None
    if len(key) < MIN_KEY_CHARS:
        raise SecretSourceError(
            f"the release key in {path} is too short", f"delete it, or {KEY_FIX}"
        )
    return key.encode()


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


def _secret_digest(name: str, secret: SecretStr, key: bytes) -> dict[str, str]:
    message = name.encode() + b"\0" + secret.get_secret_value().encode()
    return {"hmac": hmac.new(key, message, hashlib.sha256).hexdigest()}


def _stack_doc(stack: StackConfig, index: int, key: Callable[[], bytes]) -> dict[str, Any]:
    doc = stack.model_dump(mode="json", exclude={"bundle", "env"})
    doc["env"] = {
        k: _secret_digest(k, v, key()) if isinstance(v, SecretStr) else v
        for k, v in stack.env.items()
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


def config_hash(config: DeployConfig, key: Callable[[], bytes]) -> str:
    """A stable sha256 of what a deploy puts on a host, for cache keys and release records.

    Covers the stacks (bundle contents instead of the local bundle path; secret env values as
    HMAC-SHA256 under `key()`, the installation's release key, asked only when there is a
    secret: a rotated secret changes the hash, which without the key says nothing), images,
    disk, and each target's name, host, port and user. Leaves out how dockyard connects and
    runs (key sources, host keys, keepalive, step policies) and registry passwords.
    """
    key = functools.cache(key)
    doc = {
        "targets": [
            t.model_dump(mode="json", include={"name", "host", "port", "user"})
            for t in config.targets
        ],
        "stacks": [_stack_doc(s, i, key) for i, s in enumerate(config.stacks)],
        "images": config.images.model_dump(mode="json"),
        "disk": config.disk.model_dump(mode="json"),
    }
    blob = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
