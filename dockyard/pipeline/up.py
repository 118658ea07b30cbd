"""Bring the stack up: stop-before-up services, switch to the staged release and `compose up
--wait`, config-gated restarts."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from dockyard.commands.hoststate.paths import write_atomic
from dockyard.commands.remote import command_line
from dockyard.compose.oneshot import EVERY_SERVICE, UpServices
from dockyard.deadline import Deadline
from dockyard.host.releases import Release
from dockyard.pipeline import switch
from dockyard.pipeline.bundle import release_project
from dockyard.runner import Runner
from dockyard.session import HostStack


@dataclass(frozen=True)
class UpResult:
    """What `up` changed in the project directory and which old releases' files it removed."""

    changed: list[str]
    pruned: list[str]


def stop_first(hs: HostStack, runner: Runner, deadline: Deadline) -> list[str]:
    """Stop the services configured to stop before `up` (e.g. an autoheal that races it), as
    the staged release names them (the project directory may not have a compose file yet)."""
    services = hs.stack.up.stop_first
    if services:
        runner.run(release_project(hs).stop(services), deadline=deadline)
    return list(services)


def up(
    hs: HostStack, runner: Runner, deadline: Deadline, history: list[Release],
    starts: UpServices = EVERY_SERVICE,
) -> UpResult:  # fmt: skip
    """Switch the project directory to this release, then `compose up` in it without pulling
    (so containers mount from remote_dir and their config hash is the one a plain `docker
    compose up` there gives), then drop the files of releases older than disk.keep_releases
    (`history`: the host's release records)."""
    changed = switch.switch(hs, runner, deadline, hs.loaded.release)
    start(hs, runner, deadline, starts)
    return UpResult(changed, switch.prune(hs, runner, deadline, history))


def start(
    hs: HostStack, runner: Runner, deadline: Deadline, starts: UpServices,
    extra_files: tuple[str, ...] = (), remove_orphans: bool | None = None,
) -> None:  # fmt: skip
    """`compose up -d --wait` of the services `starts` waits on (within the stack's
    wait_timeout or the time left, whichever is less), then `up -d --no-deps` of the
    one-shots it starts without waiting (compose's --wait fails on a service that exits).
    Orphans are removed as up.remove_orphans says, unless `remove_orphans` is given."""
    if remove_orphans is None:
        remove_orphans = hs.stack.up.remove_orphans
    if starts.wait is None or starts.wait:
        wait = max(1.0, min(hs.stack.up.wait_timeout, deadline.left() - 5))
        argv = hs.project.up(wait_timeout=wait, remove_orphans=remove_orphans,
                             services=starts.wait or (), extra_files=extra_files)  # fmt: skip
        runner.run(argv, deadline=deadline)
        remove_orphans = False
    if starts.start:
        argv = hs.project.up(wait_timeout=None, remove_orphans=remove_orphans, no_deps=True,
                             services=starts.start, extra_files=extra_files)  # fmt: skip
        runner.run(argv, deadline=deadline)


def file_hashes(hs: HostStack) -> dict[str, str]:
    """sha256 of every file a restart rule watches, from the local bundle."""
    files = {name for rule in hs.stack.restarts for name in rule.files}
    return {
        n: hashlib.sha256((hs.stack.bundle / n).read_bytes()).hexdigest() for n in sorted(files)
    }


def _recorded_hashes(raw: bytes | None) -> dict[str, str] | None:
    """The hashes the host file holds ({} if there is none); None if it is not a JSON object
    of text (host state changed outside dockyard: every rule's service is restarted)."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return None
    return data


def gated_restarts(hs: HostStack, runner: Runner, deadline: Deadline) -> list[str]:
    """Restart each service whose watched files changed since the last deploy (all of them if
    the recorded hashes are unreadable), then remember the hashes (one command: the hashes are
    written only once the restart succeeded)."""
    if not hs.stack.restarts:
        return []
    path = hs.project.state.restart_hashes
    raw = runner.read_file(path, max_bytes=1 << 20, deadline=deadline)
    before = _recorded_hashes(raw)
    now = file_hashes(hs)
    changed = [
        rule.service
        for rule in hs.stack.restarts
        if before is None or (before and any(before.get(f) != now[f] for f in rule.files))
    ]
    hashes = json.dumps(now, sort_keys=True).encode()
    remember = write_atomic(path, len(hashes))
    script = f"{command_line(hs.project.restart(changed))} && {remember}" if changed else remember
    runner.run(script, deadline=deadline, stdin=hashes)
    return changed
