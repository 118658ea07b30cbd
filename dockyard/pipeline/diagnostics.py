"""On failure, collect what explains it: disk, compose ps, log tails; masked, never raising."""

from __future__ import annotations

from dockyard.commands import docker
from dockyard.deadline import Deadline
from dockyard.errors import DockyardError
from dockyard.pipeline.health import parse_ps
from dockyard.runner import Command
from dockyard.session import HostStack


def collect(hs: HostStack, failure: str, deadline: Deadline, tail: int = 40) -> str:
    """A text report for the artifact and the CLI; each part is best effort."""
    parts = [f"# {hs.target.name} / {hs.stack.project}", "", "## failure", hs.mask(failure)]

    def section(title: str, cmd: Command) -> str:
        try:
            result = hs.runner.run(cmd, deadline=deadline, check=False, quiet=True)
            text = (result.stdout + result.stderr).strip()
        except DockyardError as exc:
            text = f"(not collected: {exc})"
        parts.extend(["", f"## {title}", hs.mask(text) or "(empty)"])
        return text

    section("disk", docker.disk_usage())
    compose = hs.project.by_name()  # by project name: before the first deploy no file exists
    ps = section("compose ps", [*compose, "ps", "--all", "--format", "json"])
    try:
        bad = [s.service for s in parse_ps(ps) if not s.ok]
    except ValueError:
        bad = []
    if bad:
        section(f"logs ({', '.join(bad)})",
                [*compose, "logs", "--no-color", "--tail", str(tail), *bad])  # fmt: skip
    return "\n".join(parts) + "\n"
