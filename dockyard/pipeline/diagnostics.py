"""On failure, collect what explains it: disk, compose ps, log tails; masked, never raising."""

from __future__ import annotations

from dockyard.health import parse_ps
from dockyard.session import HostStack
from dockyard.ssh.errors import LinkError


def collect(hs: HostStack, failure: str, timeout: float = 60, tail: int = 40) -> str:
    """A text report for the artifact and the CLI; each part is best effort."""
    parts = [f"# {hs.target.name} / {hs.stack.project}", "", "## failure", hs.mask(failure)]

    def section(title: str, cmd: list[str] | str) -> str:
        try:
            result = hs.link.run(cmd, timeout=timeout, check=False)
            text = (result.stdout + result.stderr).strip()
        except LinkError as exc:
            text = f"(not collected: {exc})"
        parts.extend(["", f"## {title}", hs.mask(text) or "(empty)"])
        return text

    section("disk", "df -h $(docker info --format '{{.DockerRootDir}}') /")
    ps = section("compose ps", hs.project.ps_json())
    try:
        bad = [s.service for s in parse_ps(ps) if not s.ok]
    except ValueError:
        bad = []
    if bad:
        section(f"logs ({', '.join(bad)})", hs.project.logs(bad, tail=tail))
    return "\n".join(parts) + "\n"
