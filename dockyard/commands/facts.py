"""The host-facts script: one remote sh script printing, as one JSON document, all a deploy reads.

Docker server and compose versions, DockerRootDir and its df, every image with its RepoDigests,
the stack's containers (compose labels, image id, state), and the stack's lock, attempt and
release head from .dockyard/. Files travel base64-encoded (any bytes are valid JSON that way)
and capped; a fact the host cannot give prints `null`. dockyard/host/facts.py reads and parses
it."""

from __future__ import annotations

from dockyard.commands.docker import ROOT_DIR
from dockyard.commands.hoststate.paths import HostState
from dockyard.commands.shell import quote

FACTS_VERSION = 1
FILE_CAP = 64 << 10

_IMAGE = '{"id":{{json .Id}},"tags":{{json .RepoTags}},"digests":{{json .RepoDigests}}}'
_CONTAINER = (
    '{"name":{{json .Name}},"image":{{json .Image}},"labels":{{json .Config.Labels}},'
    '"state":{{json .State.Status}},"exit_code":{{.State.ExitCode}},'
    '"health":{{if index .State "Health"}}{{json .State.Health.Status}}{{else}}""{{end}}}'
)


def _string(command: str) -> str:
    """Print `command`'s one-line output as a JSON string, or null if it fails or is empty.
    Only for outputs that hold no quote or backslash (versions, paths)."""
    return f'v=$({command} 2>/dev/null) && [ -n "$v" ] && printf \'"%s"\' "$v" || printf null'


def _file(path: str, last_line: bool = False) -> str:
    """Print a file (or its last line) base64-encoded as a JSON string, or null if absent."""
    read = f"tail -n 1 {quote(path)}" if last_line else f"cat {quote(path)}"
    return (f"if [ -f {quote(path)} ]; then printf '\"'; {read} | head -c {FILE_CAP} | base64 "
            f"| tr -d '\\n'; printf '\"'; else printf null; fi")  # fmt: skip


def _list(ids: str, inspect: str) -> str:
    """Print a JSON list of `inspect`'s one-object-per-line output for the ids `ids` prints."""
    found = f"ids=$({ids} 2>/dev/null | sort -u)"
    listed = f"{inspect} $ids 2>/dev/null | paste -sd, -"
    return f"printf '['; {found}; [ -z \"$ids\" ] || {listed}; printf ']'"


def host_facts(project: str, state: HostState) -> str:
    """The one facts script for compose project `project` with its state under `state`."""
    label = quote(f"label=com.docker.compose.project={project}")
    images = _list("docker image ls -aq --no-trunc",
                   f"docker image inspect --format {quote(_IMAGE)}")  # fmt: skip
    containers = _list(f"docker ps -aq --no-trunc --filter {label}",
                       f"docker inspect --format {quote(_CONTAINER)}")  # fmt: skip
    df = ('df -Pk "$root" 2>/dev/null | awk \'NR==2{printf "{\\"size_kb\\":%s,\\"avail_kb\\":%s}",'
          " $2, $4; ok=1} END{if (!ok) printf \"null\"}'")  # fmt: skip
    parts = [
        f'printf \'{{"facts":{FACTS_VERSION},"docker":\'',
        _string("docker version --format '{{.Server.Version}}'"),
        "printf ',\"compose\":'",
        _string("docker compose version --short"),
        f"root=$({ROOT_DIR} 2>/dev/null)",
        "printf ',\"root_dir\":'",
        """[ -n "$root" ] && printf '"%s"' "$root" || printf null""",
        "printf ',\"df\":'",
        f'if [ -n "$root" ]; then {df}; else printf null; fi',
        "printf ',\"images\":'",
        images,
        "printf ',\"containers\":'",
        containers,
        "printf ',\"lock\":'",
        _file(state.lock),
        "printf ',\"attempt\":'",
        _file(state.attempt),
        "printf ',\"release_head\":'",
        _file(state.releases_log, last_line=True),
        "printf '}\\n'",
    ]
    return "\n".join(parts) + "\n"


def stack_containers(project: str) -> str:
    """The facts script's `images` and `containers` parts alone, images limited to those the
    stack's containers run: what runs after `up` (the release record), in one round trip."""
    label = quote(f"label=com.docker.compose.project={project}")
    ids = f"docker ps -aq --no-trunc --filter {label}"
    images = _list(f"{ids} | xargs -r docker inspect --format '{{{{.Image}}}}'",
                   f"docker image inspect --format {quote(_IMAGE)}")  # fmt: skip
    containers = _list(ids, f"docker inspect --format {quote(_CONTAINER)}")
    parts = [
        f'printf \'{{"facts":{FACTS_VERSION},"images":\'',
        images,
        "printf ',\"containers\":'",
        containers,
        "printf '}\\n'",
    ]
    return "\n".join(parts) + "\n"
