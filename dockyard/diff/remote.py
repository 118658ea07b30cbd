"""The diff's two remote scripts: the live stack's state (after the host facts, same round
trip) and `compose config` of the next release in a temp dir (never under remote_dir)."""

from __future__ import annotations

import shlex

from dockyard.commands.compose import ENV_FILE, ComposeProject
from dockyard.commands.hoststate.paths import HostState
from dockyard.commands.shell import quote

LIVE_MARK = "@@dockyard-diff-live@@"
ENV_CAP = 64 << 10
CONFIG_CAP = 4 << 20
MANIFEST_LINES = 10000


def live_state(state: HostState) -> str:
    """sh printing `current <release>`, `env <base64>`, `config <base64>` (the live release's
    resolved compose config, kept 0600 under .dockyard/releases/) and `file <sha256>  <path>`
    per file the live release's manifest lists; links and unsafe paths are skipped, reads
    capped. The release id read back is checked before it names a path."""
    root, env = quote(state.root), quote(f"{state.remote_dir}/{ENV_FILE}")
    rel = f'{root}/releases/"$cur"'
    return "\n".join([
        f"cur=$(head -c 256 -- {quote(state.current)} 2>/dev/null | head -n 1)",
        'case "$cur" in ""|[!A-Za-z0-9]*|*[!A-Za-z0-9._-]*) cur= ;; esac',
        "printf 'current %s\\n' \"$cur\"",
        f"printf 'env '; [ -f {env} ] && [ ! -L {env} ] && head -c {ENV_CAP} -- {env} | base64 "
        "| tr -d '\\n'; echo",
        f'printf \'config \'; [ -n "$cur" ] && c=$(ls -t -- {rel}/config.*.json 2>/dev/null '
        f'| head -n 1) && [ -n "$c" ] && [ ! -L "$c" ] && head -c {CONFIG_CAP} -- "$c" | base64 '
        "| tr -d '\\n'; echo",
        f'[ -n "$cur" ] && [ -f {rel}/manifest ] && head -n {MANIFEST_LINES} -- {rel}/manifest '
        f"| ( cd -- {quote(state.remote_dir)} && while IFS= read -r p; do "
        'case "$p" in ""|/*|..|../*|*/..|*/../*|.dockyard|.dockyard/*) continue ;; esac; '
        '[ -f "$p" ] && [ ! -L "$p" ] && printf \'file %s\\n\' "$(sha256sum < "$p" | cut -c1-64)'
        '  $p"; done )',
        "true",
    ]) + "\n"  # fmt: skip


def temp_config(project: ComposeProject) -> str:
    """sh: unpack the tar on stdin in a new temp dir, print its path on the first line, then
    `compose config --format json` (every profile) of it; the dir is removed on exit."""
    in_temp = ComposeProject(project.project, project.remote_dir, project.files, directory=".")
    config = shlex.join(in_temp.config_json(profiles=["*"]))
    return (
        "d=$(mktemp -d) || exit 1; trap 'rm -rf -- \"$d\"' EXIT; "
        f'cd -- "$d" && tar -xf - && pwd && {config}\n'
    )
