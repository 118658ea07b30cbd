"""Pull command builders: the detached engine pull and the engine's layer snapshot."""

from __future__ import annotations

from dockyard.commands.shell import quote

ENGINE_LAYERS = (
    "docker image ls --all --quiet --no-trunc | sort -u | xargs -r docker image inspect "
    "--format '{{.Id}}{{range .RootFS.Layers}} {{.}}{{end}}'"
)


def detached_pull(ref: str, seconds: float) -> str:
    """Start `docker pull ref` in its own session, bounded by `seconds`, and return at once.

    The engine cancels a pull whose client goes away and drops its layers; a pull in its own
    session outlives a dropped link or a killed deployer, so a retry joins it or finds the
    image there."""
    bound = max(1, int(seconds))
    return f"setsid -f timeout {bound} docker pull --quiet {quote(ref)} >/dev/null 2>&1 </dev/null"


def engine_layers() -> str:
    """One line per image on the engine: `<image id> <layer diff_id> ...` (RootFS order)."""
    return ENGINE_LAYERS
