"""Releases: their identity (the digest of a bundle tree and the hash of what a config puts on a
host; the release id is `r-` + 16 hex of config_hash, so any change to what is deployed gives a
new release) and their records on the host (one JSON line per attempt, by digest, bounded)."""

from __future__ import annotations

import json
import posixpath
import re
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from dockyard.commands.hoststate.paths import HostState
from dockyard.commands.hoststate.release import RELEASE_ID, history_append, history_read
from dockyard.deadline import Deadline
from dockyard.images.ref import ImageRef, InvalidImageRef
from dockyard.names import ENV_NAME
from dockyard.runner import Runner

RELEASES_FILE = posixpath.basename(HostState("").releases_log)
CALL_CAP = 30.0  # one history read or append, within the step's deadline
MAX_RECORDS = 500  # the history keeps the newest this many records (rotated on append)
MAX_BYTES = 8 << 20
SERVICE_NAME = re.compile(r"[a-zA-Z0-9._-]+")  # compose's service name rule
IMAGE_ID = re.compile(r"sha256:[0-9a-f]{64}")  # what a record holds for an image without digest


@dataclass(frozen=True)
class Release:
    """What a deploy put on a host and how it ended. `refs` is the plan's service -> image as
    the compose config names it; `services` is, per service container, the image id and compose
    config hash it ran with when recorded (the convergence check compares both); `one_shot`
    names the services that are done once they exited 0; `approved_by` who approved the
    rollout batch this host deployed in (rollout.approve), "" when nobody was asked."""

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
    one_shot: list[str] = field(default_factory=list)
    approved_by: str = ""

    @property
    def succeeded(self) -> bool:
        return self.result == "succeeded"


def append(runner: Runner, state: HostState, release: Release, deadline: Deadline) -> None:
    """Add one record, keeping the newest MAX_RECORDS (rewritten through a temp file + mv)."""
    line = (json.dumps(asdict(release), sort_keys=True) + "\n").encode()
    runner.run(history_append(state.releases_log, MAX_RECORDS, len(line)), deadline=deadline,
               cap=CALL_CAP, stdin=line, quiet=True)  # fmt: skip


def to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _image_problem(value: object) -> str:
    if isinstance(value, str) and IMAGE_ID.fullmatch(value):
        return ""
    try:
        ImageRef.parse(value if isinstance(value, str) else "")
    except InvalidImageRef as exc:
        return exc.reason
    return ""


def _names(field: str, value: object, name: re.Pattern[str]) -> dict[str, object]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and name.fullmatch(k) for k in value
    ):
        raise ValueError(f"{field} is not a mapping by service or variable name")
    return value


def record_problem(record: dict[str, Any]) -> str:
    """Why a record read back from the host cannot be used ("" if it can): the history is host
    state, so each field it has must have its type, the id must be a release id and every
    image an image reference (or an image id)."""
    texts = ("time", "actor", "run_id", "result", "config_hash", "approved_by")
    if not all(isinstance(record[t], str) for t in texts if t in record):
        return "a field that must be text is not"
    if "id" in record and not (
        isinstance(record["id"], str) and RELEASE_ID.fullmatch(record["id"])
    ):
        return f"its id {str(record['id'])[:80]!r} is not a release id"
    try:
        for field, name in (("images", SERVICE_NAME), ("refs", SERVICE_NAME),
                            ("variables", ENV_NAME)):  # fmt: skip
            for key, image in _names(field, record.get(field, {}), name).items():
                if problem := _image_problem(image):
                    return f"{field}.{key} is not an image reference ({problem})"
        for service in _names("services", record.get("services", {}), SERVICE_NAME).values():
            if not isinstance(service, dict) or not all(
                isinstance(v, str) for v in service.values()
            ):
                return "services holds a value that is not a mapping of text"
        one_shot = record.get("one_shot", [])
        if not isinstance(one_shot, list) or not all(
            isinstance(s, str) and SERVICE_NAME.fullmatch(s) for s in one_shot
        ):
            return "one_shot is not a list of service names"
    except ValueError as exc:
        return str(exc)
    return ""


def parse(text: str, warn: Callable[[str], None] = to_stderr) -> list[Release]:
    """Records from the history's text, oldest first; a partial, foreign or invalid line
    (record_problem) is skipped with a warning (each line stands alone: one bad line never
    costs its neighbour)."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            release = Release(**data)
        except (ValueError, TypeError):
            warn(f"{RELEASES_FILE} line {number} is not a release record (cut off?): skipped")
            continue
        if problem := record_problem(data):
            warn(f"{RELEASES_FILE} line {number} is not a valid release record ({problem}): "
                 "skipped; the host's history was changed outside dockyard")  # fmt: skip
            continue
        found.append(release)
    return found


def read_all(
    runner: Runner, state: HostState, deadline: Deadline, warn: Callable[[str], None] = to_stderr
) -> list[Release]:
    """Every kept record, oldest first; the host sends at most the last MAX_BYTES of them (a
    record cut there is skipped with a warning)."""
    script = history_read(state.releases_log, MAX_RECORDS, MAX_BYTES)
    return parse(runner.run(script, deadline=deadline, cap=CALL_CAP, quiet=True).stdout, warn)


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
