"""Compare a stack's live snapshot with the next release's (pure): services, env, images, files."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

# What compose leaves out of a service's config hash: changing them recreates nothing.
UNHASHED = frozenset({"build", "pull_policy", "scale", "depends_on", "profiles"})

Action = Literal["create", "recreate", "unchanged", "remove"]
Op = Literal["+", "-", "~"]


@dataclass(frozen=True)
class LiveService:
    """One service as the host runs it: its image (`repo@sha256:…` or image id) and whether a
    container of it runs with the compose config hash the release record holds."""

    image: str = ""
    drifted: bool = False
    running: bool = True


@dataclass(frozen=True)
class Snapshot:
    """One side of a diff. `services` holds each service's resolved compose config (paths of the
    project directory made relative), `images` service -> digest or image id, `files`
    relative path -> sha256, `env` the project's .env variables."""

    release: str | None
    services: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    images: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)
    running: Mapping[str, LiveService] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceChange:
    """One service's row: what compose will do and why (`keys`: the config keys that differ)."""

    service: str
    action: Action
    image: tuple[str, str] | None = None
    keys: tuple[str, ...] = ()
    job: bool = False


@dataclass(frozen=True)
class EnvChange:
    """One `.env` key added, removed or changed; `old`/`new` stay None for a secret."""

    key: str
    op: Op
    secret: bool
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True)
class FileChange:
    """One bundle file added, removed or changed in the project directory."""

    path: str
    op: Op


@dataclass(frozen=True)
class StackDiff:
    """What deploying `release_to` over `release_from` changes for one stack on one host."""

    host: str
    project: str
    release_from: str | None
    release_to: str
    services: tuple[ServiceChange, ...]
    env: tuple[EnvChange, ...]
    files: tuple[FileChange, ...]
    jobs: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return (
            any(s.action != "unchanged" for s in self.services)
            or bool(self.env)
            or bool(self.files)
            or self.release_from != self.release_to
        )

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["changed"] = self.changed
        doc["jobs"] = list(self.jobs) if self.changed else []
        return doc


def compare(
    host: str,
    project: str,
    live: Snapshot,
    next_: Snapshot,
    jobs: Mapping[str, str],
    secret_keys: frozenset[str],
    reads: Mapping[str, tuple[str, ...]] | None = None,
) -> StackDiff:
    """The diff of deploying `next_` where `live` runs. `jobs` is job name -> service (job
    services are run, not kept running); `secret_keys` are the env keys never shown; `reads`
    is service -> the bundle paths it reads (bind mounts, restart rules): a changed one is a
    config change of the service."""
    job_services = set(jobs.values())
    files = file_changes(live.files, next_.files)
    changed = [f.path for f in files]
    rows = []
    for name in sorted(set(next_.services) | set(live.services) | set(live.running)):
        row = _service(name, live, next_, name in job_services)
        read = [p for p in changed if _under(p, (reads or {}).get(name, ()))]
        if read and row.action in ("recreate", "unchanged"):
            row = replace(row, action="recreate", keys=(*row.keys, *(f"file {p}" for p in read)))
        rows.append(row)
    return StackDiff(
        host=host,
        project=project,
        release_from=live.release,
        release_to=next_.release or "",
        services=tuple(rows),
        env=env_changes(live.env, next_.env, secret_keys),
        files=files,
        jobs=tuple(sorted(jobs)),
    )


def _service(name: str, live: Snapshot, next_: Snapshot, job: bool) -> ServiceChange:
    if name not in next_.services:
        return ServiceChange(name, "remove", job=job)
    running = live.running.get(name)
    if name not in live.services and (running is None or job):
        return ServiceChange(name, "create", job=job)
    old_image = live.images.get(name, "")
    new_image = next_.images.get(name, "")
    image = (old_image, new_image) if not same_image(old_image, new_image) else None
    keys = config_keys(live.services.get(name), next_.services[name])
    if running is not None and running.drifted:
        keys = (*keys, "(container drifted from the recorded release)")
    if not job and (running is None or not running.running):
        return ServiceChange(name, "create", image, keys, job)
    action: Action = "recreate" if image or keys else "unchanged"
    return ServiceChange(name, action, image, keys, job)


def _under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def same_image(old: str, new: str) -> bool:
    """Whether two images are one: equal digests (`…@sha256:x` or `sha256:x`), else equal text."""
    return _digest(old) == _digest(new)


def _digest(image: str) -> str:
    return image.rpartition("@")[2] if "@" in image else image


def config_keys(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[str, ...]:
    """The service config keys that differ (one level into mappings: `environment.DB_URL`),
    leaving out `image` (shown by digest) and what compose does not hash."""
    if old is None:
        return ("(no recorded config of the live release)",)
    keys = []
    for key in sorted((set(old) | set(new)) - UNHASHED - {"image"}):
        a, b = old.get(key), new.get(key)
        if _same(a, b):
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if not _same(a.get(k), b.get(k))]
        else:
            keys.append(key)
    return tuple(keys)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def env_changes(
    old: Mapping[str, str], new: Mapping[str, str], secret_keys: frozenset[str]
) -> tuple[EnvChange, ...]:
    """`+ - ~` per .env key, values kept only for keys that are not secret."""
    rows = []
    for key in sorted(set(old) | set(new)):
        secret = key in secret_keys
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        op: Op = "+" if a is None else "-" if b is None else "~"
        rows.append(EnvChange(key, op, secret, None if secret else a, None if secret else b))
    return tuple(rows)


def file_changes(old: Mapping[str, str], new: Mapping[str, str]) -> tuple[FileChange, ...]:
    """`+ - ~` per relative path, by sha256."""
    rows = []
    for path in sorted(set(old) | set(new)):
        if path not in old:
            rows.append(FileChange(path, "+"))
        elif path not in new:
            rows.append(FileChange(path, "-"))
        elif old[path] != new[path]:
            rows.append(FileChange(path, "~"))
    return tuple(rows)
