"""Release switch scripts: stage a release beside the live one, switch it in at `up`, keep the
last N; and the release history (append bounded, read). Each is one POSIX sh script; paths come
from the manifests, never from the command line."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from dockyard.commands.hoststate.paths import STATE_DIR, HostState, land, temp_beside
from dockyard.commands.shell import quote, take_stdin

RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
UNSAFE = 4  # exit status when host state is refused (a bad manifest line, a planted link)
BLOCKED = 5  # switch_release's exit status when a directory sits where a file goes


def checked(release: str) -> str:
    """A release id safe as one path component and one shell word, or ValueError."""
    if not RELEASE_ID.fullmatch(release):
        raise ValueError(f"release id {release[:80]!r} is not [A-Za-z0-9._-]+")
    return release


def manifest_problem(line: str) -> str:
    """Why `line` cannot be a manifest line ("" if it can): a relative path in normal form
    (no empty, `.` or `..` part), outside `.dockyard/`, on one line."""
    if not line or "\n" in line or "\r" in line or "\0" in line:
        return "is empty or holds a line break"
    parts = line.split("/")
    if line.startswith("/") or "" in parts or "." in parts or ".." in parts:
        return "is not a normal relative path (no leading /, //, . or ..)"
    if parts[0] == STATE_DIR:
        return f"is inside {STATE_DIR}/, dockyard's own state"
    return ""


def _sh_safe() -> str:
    """sh: define `safe ROOT LINE`, the shell twin of manifest_problem plus: no part of
    ROOT/LINE is a symlink (dockyard makes none there). A refused line ends the script with
    UNSAFE and says why on stderr; it is checked before anything changes."""
    return (
        'safe() { case "/$2/" in //* | *//* | */./* | */../* | '
        f"/{STATE_DIR}/*) printf 'dockyard: manifest line %s is not a normal relative path "
        f"outside {STATE_DIR}/: refused (host state was changed by hand or by someone else); "
        f"remove the release dir under {STATE_DIR}/releases/ and deploy again\\n' \"'$2'\" >&2; "
        f"exit {UNSAFE} ;; esac; "
        'p=$1; r=$2; while :; do c=${r%%/*}; p=$p/$c; if [ -L "$p" ]; then '
        "printf 'dockyard: %s is a symlink dockyard did not make: refused; remove it (or move "
        f'it out of the stack) and deploy again\\n\' "$p" >&2; exit {UNSAFE}; fi; '
        '[ "$c" = "$r" ] && return 0; r=${r#*/}; done; }; '
    )


def _sh_release_var(var: str) -> str:
    """sh: empty $var unless it holds a release id (RELEASE_ID's shell twin)."""
    return (
        f'case "${var}" in [A-Za-z0-9]*) ;; *) {var}= ;; esac; '
        f'case "${var}" in *[!A-Za-z0-9._-]*) {var}= ;; esac; '
        f"[ ${{#{var}}} -le 128 ] || {var}=; "
    )


def _no_link(*paths: str) -> str:
    """sh: end with UNSAFE if one of `paths` is a symlink."""
    return "".join(
        f"if [ -L {quote(p)} ]; then printf 'dockyard: %s is a symlink dockyard did not make: "
        f"refused; remove it and deploy again\\n' {quote(p)} >&2; exit {UNSAFE}; fi; "
        for p in paths
    )


def _release_dirs(state: HostState, release: str) -> tuple[str, ...]:
    return (
        state.root,
        state.releases_dir,
        state.release_dir(release),
        state.release_files(release),
    )


def seed_release(state: HostState, release: str, current: str | None) -> str:
    """Create the release's files dir once, as a copy of the current release's files (so an
    upload only sends what differs); a half-made copy from a killed run is redone. A link at
    any of these dirs is refused, never followed; a link inside the files dir is removed (an
    upload would write through it)."""
    files = quote(state.release_files(checked(release)))
    tmp = quote(state.release_files(release) + ".partial")
    fill = f"mkdir -p -- {tmp}"
    if current and current != release:
        seed = state.release_files(checked(current))
        fill = (
            f"{{ {{ [ ! -L {quote(seed)} ] && [ ! -L {quote(state.release_dir(current))} ] && "
            f"cp -a -- {quote(seed)} {tmp} 2>/dev/null; }} || {fill}; }}"
        )
    return (
        _no_link(*_release_dirs(state, release), state.release_files(release) + ".partial")
        + f"{{ [ -d {files} ] || {{ rm -rf -- {tmp} && "
        f"mkdir -p -- {quote(state.release_dir(release))} && {fill} && "
        f"mv -T -- {tmp} {files}; }}; }}"
        f" && find {files} -type l -exec rm -f -- {{}} +"
    )


def link_outside(state: HostState, release: str, paths: Iterable[str]) -> str:
    """In the release's files dir, link each of `paths` (relative, not bundle files) to the
    same path in the project directory, made there as a directory if nothing is there yet
    (as Docker would at `up`): a job run in the release dir then bind-mounts the stack's live
    data, not an empty dir of the release. Paths already present are left as they are; a link
    at the release's own dirs is refused (UNSAFE), never followed. These are the only links in
    a files dir: seed_release and drop_unlisted remove them, plan and sync make them again."""
    files = state.release_files(checked(release))
    lines = []
    for rel in paths:
        if problem := manifest_problem(rel):
            raise ValueError(f"bind mount source {rel[:80]!r} {problem}")
        link, live = quote(posixpath.join(files, rel)), quote(posixpath.join(state.remote_dir, rel))
        parent = quote(posixpath.dirname(posixpath.join(files, rel)))
        lines.append(
            f"if [ ! -e {link} ] && [ ! -L {link} ]; then {{ [ -e {live} ] || mkdir -p -- "
            f"{live}; }} && mkdir -p -- {parent} && ln -s -- {live} {link}; fi"
        )
    return _no_link(*_release_dirs(state, release)) + ("; ".join(lines) or "true")


def drop_unlisted(state: HostState, release: str) -> str:
    """Remove files in the release's files dir that its manifest does not list (left from the
    seed copy or a killed upload), and any symlink in it; the files dir is dockyard's own."""
    files = quote(state.release_files(checked(release)))
    manifest = quote(state.release_manifest(release))
    return (
        _no_link(*_release_dirs(state, release))
        + f"cd {files} && find . -type l -exec rm -f -- {{}} + && find . -type f "
        f"| sed 's|^\\./||' | {{ grep -vxF -f {manifest} || true; }}"
        ' | while IFS= read -r f; do rm -f -- "./$f"; done'
    )


def install_manifest(state: HostState, release: str, size: int) -> str:
    """Write stdin (`size` bytes, or nothing lands) as the release's manifest (mode 0644, a
    `mktemp` file then `mv -T`), then drop the files its files dir holds that the manifest does
    not list (drop_unlisted)."""
    manifest = state.release_manifest(checked(release))
    took = take_stdin('"$t"', size)
    return (
        _no_link(*_release_dirs(state, release)[:3])
        + f'{temp_beside(manifest)} && {{ {took} && chmod 644 "$t" || '
        f'{{ rm -f -- "$t"; false; }}; }} && {land(manifest)} && '
        f"{{ {drop_unlisted(state, release)}; }}"
    )


def _old_manifest(state: HostState) -> str:
    """sh: set $old to the manifest of the release the project directory holds now (or ''):
    `current` is read back, so it is used only if it is a release id."""
    current = quote(state.current)
    releases = quote(state.releases_dir)
    return (
        f"cur=$(cat {current} 2>/dev/null || true); " + _sh_release_var("cur") + 'old=""; '
        f'[ -n "$cur" ] && [ ! -L {releases}/"$cur" ] && [ -f {releases}/"$cur"/manifest ] && '
        f'old={releases}/"$cur"/manifest; '
    )


def _check_lines(state: HostState, release: str) -> str:
    """sh: every line of the release's manifest is safe under the files dir and remote_dir,
    every line of $old under remote_dir (all checked before anything changes)."""
    files = quote(state.release_files(release))
    manifest = quote(state.release_manifest(release))
    dst = quote(state.remote_dir)
    return (
        _sh_safe()
        + _no_link(*_release_dirs(state, release), state.release_manifest(release))
        + f'while IFS= read -r f || [ -n "$f" ]; do safe {files} "$f"; safe {dst} "$f"; '
        f"done < {manifest}; "
        f'if [ -n "$old" ]; then while IFS= read -r f || [ -n "$f" ]; do safe {dst} "$f"; '
        'done < "$old"; fi; '
    )


def pending_changes(state: HostState, release: str) -> str:
    """Print what switching to `release` changes in the project directory: `+ path` for a file
    written, `- path` for one removed (it came from the previous release and is gone). Exits
    UNSAFE if a manifest line or a link on a path is refused (as the switch would)."""
    files = quote(state.release_files(checked(release)))
    manifest = quote(state.release_manifest(release))
    dst = quote(state.remote_dir)
    return (
        _old_manifest(state)
        + _check_lines(state, release)
        + f'if [ -n "$old" ]; then grep -vxF -f {manifest} "$old" | while IFS= read -r f; do '
        f'[ -e {dst}/"$f" ] && echo "- $f"; done; fi; '
        f'while IFS= read -r f; do cmp -s -- {files}/"$f" {dst}/"$f" || echo "+ $f"; '
        f"done < {manifest}; true"
    )


def switch_release(state: HostState, release: str) -> str:
    """Make the project directory hold `release`'s files and .env: remove the files the previous
    release had and this one has not (only paths a manifest lists: never a file dockyard did not
    put there), write each changed file by rename (cmp first: unchanged files keep their inode),
    then point `current` at the release. Prints what changed, as pending_changes does.

    Both manifests are host state: every line is checked first (relative, normal, outside
    .dockyard/, no symlink on its way in the files dir or remote_dir), a refused one exits
    UNSAFE before anything changed. Exits BLOCKED, changing nothing, when a directory sits
    where it installs a file (its paths on stderr, one per line). Files land through a
    `mktemp` file and `mv -T`."""
    files = quote(state.release_files(checked(release)))
    manifest = quote(state.release_manifest(release))
    dst = quote(state.remote_dir)
    return (
        f"set -e; [ -f {manifest} ] || {{ echo 'release {release} is not staged' >&2; exit 3; }}; "
        + _old_manifest(state)
        + f"mkdir -p -- {dst}; "
        + _check_lines(state, release)
        + f'b=$(while IFS= read -r f; do [ -d {dst}/"$f" ] && echo "$f"; done < {manifest}; '
        f'true); if [ -n "$b" ]; then echo "$b" >&2; exit {BLOCKED}; fi; '
        f'if [ -n "$old" ]; then grep -vxF -f {manifest} "$old" | while IFS= read -r f; do '
        f'[ -e {dst}/"$f" ] && echo "- $f"; rm -f -- {dst}/"$f"; d=$(dirname -- "$f"); '
        f'[ "$d" = . ] || (cd {dst} && rmdir -p -- "$d" 2>/dev/null) || true; done; fi; '
        f'while IFS= read -r f; do s={files}/"$f"; t={dst}/"$f"; '
        'if cmp -s -- "$s" "$t"; then chmod "$(stat -c %a -- "$s")" -- "$t"; else '
        'mkdir -p -- "$(dirname -- "$t")"; n=$(mktemp -- "$t.XXXXXX"); '
        'cp -p -- "$s" "$n" || { rm -f -- "$n"; exit 1; }; '
        'mv -fT -- "$n" "$t" || { rm -f -- "$n"; exit 1; }; '
        f'echo "+ $f"; fi; done < {manifest}; '
        + f'{temp_beside(state.current)}; echo {quote(release)} > "$t"; {land(state.current)}'
    )


def prune_releases(state: HostState, keep: Iterable[str]) -> str:
    """Remove every release dir but those in `keep` and the current one; print what went. A
    link among them is left alone (never followed by rm)."""
    releases = quote(state.releases_dir)
    kept = " ".join(checked(r) for r in sorted(set(keep)))
    return (
        f"cur=$(cat {quote(state.current)} 2>/dev/null || true); "
        + _sh_release_var("cur")
        + f"[ -d {releases} ] && [ ! -L {releases} ] || exit 0; "
        f'for d in {releases}/*; do [ -d "$d" ] && [ ! -L "$d" ] || continue; '
        'r=$(basename -- "$d"); [ "$r" = "$cur" ] && continue; '
        f'case " {kept} " in *" $r "*) continue ;; esac; rm -rf -- "$d" && echo "$r"; done'
    )


def history_append(path: str, keep: int, size: int) -> str:
    """Append the record on stdin (`size` bytes, or nothing changes) to the release history,
    keeping its last `keep` lines: a cut-off last line is ended first (so it stays one bad line,
    never merged with the next), and the file is rewritten through a `mktemp` file and `mv -T`
    (bounded, never half-written). The record is taken whole into a `mktemp` file first."""
    f = quote(path)
    record = f"r=$(mktemp -- {quote(path + '.in.XXXXXX')})"
    took = take_stdin('"$r"', size)
    return (
        f"mkdir -p -- {quote(posixpath.dirname(path))} && {record} && "
        f'{{ {took} && {temp_beside(path)} || {{ rm -f -- "$r"; false; }}; }} && '
        f'{{ {{ cat {f} 2>/dev/null; [ -s {f} ] && [ -n "$(tail -c 1 {f})" ] && echo; cat "$r"; }} '
        f'| tail -n {keep} > "$t" || {{ rm -f -- "$t" "$r"; false; }}; }} && rm -f -- "$r" && '
        f"{land(path)}"
    )


def history_read(path: str, keep: int, max_bytes: int) -> str:
    """The last `keep` lines of the release history, cut to their last `max_bytes` on the host
    (so a planted giant line never crosses the link whole); nothing if there is none."""
    return f"tail -n {keep} {quote(path)} 2>/dev/null | tail -c {max_bytes}; true"
