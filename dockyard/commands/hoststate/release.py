"""Release switch scripts: stage a release beside the live one, switch it in at `up`, keep the
last N; and the release history (append bounded, read). Each is one POSIX sh script; paths come
from the manifests, never from the command line."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

from dockyard.commands.hoststate.paths import HostState
from dockyard.commands.shell import quote

RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def checked(release: str) -> str:
    """A release id safe as one path component and one shell word, or ValueError."""
    if not RELEASE_ID.fullmatch(release):
        raise ValueError(f"release id {release!r} is not [A-Za-z0-9._-]+")
    return release


def seed_release(state: HostState, release: str, current: str | None) -> str:
    """Create the release's files dir once, as a copy of the current release's files (so an
    upload only sends what differs); a half-made copy from a killed run is redone."""
    files = quote(state.release_files(checked(release)))
    tmp = quote(state.release_files(release) + ".partial")
    fill = f"mkdir -p -- {tmp}"
    if current and current != release:
        seed = quote(state.release_files(checked(current)))
        fill = f"{{ cp -a -- {seed} {tmp} 2>/dev/null || {fill}; }}"
    return (
        f"[ -d {files} ] || {{ rm -rf -- {tmp} && mkdir -p -- {quote(state.release_dir(release))}"
        f" && {fill} && mv -- {tmp} {files}; }}"
    )


def drop_unlisted(state: HostState, release: str) -> str:
    """Remove files in the release's files dir that its manifest does not list (left from the
    seed copy or a killed upload); the files dir is dockyard's own."""
    files = quote(state.release_files(checked(release)))
    manifest = quote(state.release_manifest(release))
    return (
        f"cd {files} && find . -type f | sed 's|^\\./||' | {{ grep -vxF -f {manifest} || true; }}"
        ' | while IFS= read -r f; do rm -f -- "./$f"; done'
    )


def install_manifest(state: HostState, release: str) -> str:
    """Write stdin as the release's manifest (mode 0644, a temp file then `mv`), then drop the
    files its files dir holds that the manifest does not list (drop_unlisted), in one script."""
    manifest = quote(state.release_manifest(checked(release)))
    return (
        f't={manifest}.tmp.$$ && cat > "$t" && chmod 644 "$t" && mv -f -- "$t" {manifest} && '
        + drop_unlisted(state, release)
    )


def _old_manifest(state: HostState) -> str:
    """sh: set $old to the manifest of the release the project directory holds now (or '')."""
    current = quote(state.current)
    releases = quote(state.releases_dir)
    return (
        f'cur=$(cat {current} 2>/dev/null || true); old=""; '
        f'[ -n "$cur" ] && [ -f {releases}/"$cur"/manifest ] && old={releases}/"$cur"/manifest; '
    )


def pending_changes(state: HostState, release: str) -> str:
    """Print what switching to `release` changes in the project directory: `+ path` for a file
    written, `- path` for one removed (it came from the previous release and is gone)."""
    files = quote(state.release_files(checked(release)))
    manifest = quote(state.release_manifest(release))
    dst = quote(state.remote_dir)
    return (
        _old_manifest(state)
        + f'if [ -n "$old" ]; then grep -vxF -f {manifest} "$old" | while IFS= read -r f; do '
        f'[ -e {dst}/"$f" ] && echo "- $f"; done; fi; '
        f'while IFS= read -r f; do cmp -s -- {files}/"$f" {dst}/"$f" || echo "+ $f"; '
        f"done < {manifest}; true"
    )


def switch_release(state: HostState, release: str) -> str:
    """Make the project directory hold `release`'s files and .env: remove the files the previous
    release had and this one has not (only paths a manifest lists: never a file dockyard did not
    put there), write each changed file by rename (cmp first: unchanged files keep their inode),
    then point `current` at the release. Prints what changed, as pending_changes does."""
    files = quote(state.release_files(checked(release)))
    manifest = quote(state.release_manifest(release))
    dst = quote(state.remote_dir)
    current = quote(state.current)
    return (
        f"set -e; [ -f {manifest} ] || {{ echo 'release {release} is not staged' >&2; exit 3; }}; "
        + _old_manifest(state)
        + f"mkdir -p -- {dst}; "
        f'if [ -n "$old" ]; then grep -vxF -f {manifest} "$old" | while IFS= read -r f; do '
        f'[ -e {dst}/"$f" ] && echo "- $f"; rm -f -- {dst}/"$f"; d=$(dirname -- "$f"); '
        f'[ "$d" = . ] || (cd {dst} && rmdir -p -- "$d" 2>/dev/null) || true; done; fi; '
        f'while IFS= read -r f; do s={files}/"$f"; t={dst}/"$f"; '
        'if cmp -s -- "$s" "$t"; then chmod "$(stat -c %a -- "$s")" -- "$t"; else '
        'mkdir -p -- "$(dirname -- "$t")"; cp -p -- "$s" "$t.dockyard-new"; '
        f'mv -f -- "$t.dockyard-new" "$t"; echo "+ $f"; fi; done < {manifest}; '
        f"echo {quote(release)} > {current}.new; mv -f -- {current}.new {current}"
    )


def prune_releases(state: HostState, keep: Iterable[str]) -> str:
    """Remove every release dir but those in `keep` and the current one; print what went."""
    releases = quote(state.releases_dir)
    kept = " ".join(checked(r) for r in sorted(set(keep)))
    return (
        f"cur=$(cat {quote(state.current)} 2>/dev/null || true); [ -d {releases} ] || exit 0; "
        f'for d in {releases}/*/; do [ -d "$d" ] || continue; r=$(basename -- "$d"); '
        '[ "$r" = "$cur" ] && continue; '
        f'case " {kept} " in *" $r "*) continue ;; esac; rm -rf -- "$d" && echo "$r"; done'
    )


def history_append(path: str, keep: int) -> str:
    """Append the record on stdin to the release history, keeping its last `keep` lines: a
    cut-off last line is ended first (so it stays one bad line, never merged with the next),
    and the file is rewritten through a temp file and `mv` (bounded, never half-written)."""
    f = quote(path)
    return (
        f"mkdir -p {quote(posixpath.dirname(path))} && umask 077 && t={f}.tmp.$$ && "
        f'{{ cat {f} 2>/dev/null; [ -s {f} ] && [ -n "$(tail -c 1 {f})" ] && echo; cat; }} '
        f'| tail -n {keep} > "$t" && mv "$t" {f}'
    )


def history_read(path: str, keep: int) -> str:
    """The last `keep` lines of the release history (nothing if there is none)."""
    return f"tail -n {keep} {quote(path)} 2>/dev/null; true"
