"""The state guard script: before a deploy writes anything, remote_dir's path and `.dockyard/`
must be safe to write through (dockyard runs as root with the stack's secrets)."""

from __future__ import annotations

from dockyard.commands.hoststate.paths import HostState, mkdir_state
from dockyard.commands.shell import quote

OK = "OK"
WRITABLE = "WRITABLE"  # WRITABLE <mode> <dir>: group- or world-writable
OWNER = "OWNER"  # OWNER <uid> <dir>: owned by neither root nor the SSH user
LINK = "LINK"  # LINK <path>: a symlink under .dockyard/ dockyard did not make
MAX_LINKS = 20


def state_check(state: HostState) -> str:
    """Print a problem line (WRITABLE, OWNER, LINK) for each unsafe directory on remote_dir's
    path (as written and as resolved: every parent up to /) and each symlink at or under
    `.dockyard/` but a release's data-dir link (_links); with none, make `.dockyard/` (0700,
    also an existing one) and print OK. Reads only until it prints OK: nothing is written on
    a host it refuses."""
    remote = quote(state.remote_dir)
    root = quote(state.root)
    return (
        "u=$(id -u); "
        'chk() { [ -e "$1" ] || return 0; s=$(stat -L -c \'%u %a\' -- "$1") || return 0; '
        'o=${s% *}; m=${s#* }; [ "$o" = 0 ] || [ "$o" = "$u" ] || '
        f'echo "{OWNER} $o $1"; '
        f'case $m in *[2367]? | *[2367]) echo "{WRITABLE} $m $1" ;; esac; }}; '
        'walk() { chk /; p=; r=${1#/}; while [ -n "$r" ]; do c=${r%%/*}; p=$p/$c; chk "$p"; '
        "case $r in */*) r=${r#*/} ;; *) r= ;; esac; done; }; "
        f"problems=$(walk {remote}; real=$(realpath -m -- {remote}) && "
        f'[ "$real" != {remote} ] && walk "$real"; '
        f"if [ -L {root} ]; then echo {LINK} {root}; elif [ -d {root} ]; then "
        f'o=$(stat -c %u -- {root}); [ "$o" = 0 ] || [ "$o" = "$u" ] || echo "{OWNER} $o "{root}; '
        f"{_links(state)} | head -n {MAX_LINKS}; fi); "
        'if [ -n "$problems" ]; then printf \'%s\\n\' "$problems"; exit 0; fi; '
        f"{mkdir_state(state)} && echo {OK}"
    )


def _links(state: HostState) -> str:
    """sh: print `LINK <path>` for each symlink under `.dockyard/` except those dockyard makes:
    `releases/<id>/files/<rel>` pointing at exactly `<remote_dir>/<rel>` (a release dir's link
    to a data dir, hoststate.release.link_outside; removed before each upload)."""
    return (
        f"R={quote(state.releases_dir)}; D={quote(state.remote_dir)}; "
        f'find {quote(state.root)} -type l | while IFS= read -r l; do r=${{l#"$R"/}}; '
        'rel=${r#*/files/}; if [ "$r" != "$l" ] && [ "${r%%/*}/files/$rel" = "$r" ] && '
        f'[ "$(readlink -- "$l")" = "$D/$rel" ]; then continue; fi; echo "{LINK} $l"; done'
    )
