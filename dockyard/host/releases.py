"""Releases: their identity (the digest of a bundle tree and the hash of what a config puts on a
host; the release id is `r-` + 16 hex of config_hash, so any change to what is deployed gives a
new release) and their records on the host (one JSON line per attempt, by digest, bounded)."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from dockyard.commands.hoststate.paths import HostState
from dockyard.commands.hoststate.release import history_append, history_read
from dockyard.config import ConfigError, DeployConfig, Problem, StackConfig
from dockyard.deadline import Deadline
from dockyard.runner import Runner

RELEASES_FILE = posixpath.basename(HostState("").releases_log)
CALL_CAP = 30.0  # one history read or append, within the step's deadline
MAX_RECORDS = 500  # the history keeps the newest this many records (rotated on append)
MAX_BYTES = 8 << 20


@dataclass(frozen=True)
class Release:
    """What a deploy put on a host and how it ended. `refs` is the plan's service -> image as
    the compose config names it; `services` is, per service container, the image id and compose
    config hash it ran with when recorded (the convergence check compares both)."""

    id: str
    time: str
    actor: str
    run_id: str
    result: str
    config_hash: str
    images: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)
    services: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.result == "succeeded"


def append(runner: Runner, state: HostState, release: Release, deadline: Deadline) -> None:
    """Add one record, keeping the newest MAX_RECORDS (rewritten through a temp file + mv)."""
    line = (json.dumps(asdict(release), sort_keys=True) + "\n").encode()
    runner.run(history_append(state.releases_log, MAX_RECORDS), deadline=deadline,
               cap=CALL_CAP, stdin=line, quiet=True)  # fmt: skip


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def parse(text: str, warn: Callable[[str], None] = to_stderr) -> list[Release]:
    """Records from the history's text, oldest first; a partial or foreign line is skipped
    with a warning (each line stands alone: one bad line never costs its neighbour)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            found.append(Release(**json.loads(line)))
        except (ValueError, TypeError):
            warn(f"{RELEASES_FILE} line {number} is not a release record (cut off?): skipped")
    return found


def read_all(
    runner: Runner, state: HostState, deadline: Deadline, warn: Callable[[str], None] = to_stderr
) -> list[Release]:
    """Every kept record, oldest first."""
    script = history_read(state.releases_log, MAX_RECORDS)
    out = runner.run(script, deadline=deadline, cap=CALL_CAP, quiet=True).stdout
    return parse(out[-MAX_BYTES:], warn)


def last_good(releases: list[Release], before: str | None = None) -> Release | None:
    """The newest succeeded release, optionally the newest one other than `before`."""
    for release in reversed(releases):
        if release.succeeded and release.id != before:
            return release
    return None


def rollback_target(releases: list[Release], to: str | None) -> Release | None:
    """What `dockyard rollback` goes back to: release `to` if it succeeded here, else the
    newest good release before the current one."""
    if to is not None:
        return last_good([r for r in releases if r.id == to])
    current = releases[-1].id if releases and releases[-1].succeeded else None
    return last_good(releases, before=current)


def kept_digests(releases: list[Release], keep: int) -> set[str]:
    """Image references of the last `keep` distinct succeeded releases (prune spares them): a
    release redeployed three times counts once."""
    kept: dict[str, Release] = {}
    for release in reversed(releases):
        if len(kept) >= keep:
            break
        if release.succeeded and release.id not in kept:
            kept[release.id] = release
    return {image for release in kept.values() for image in release.images.values()}


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
