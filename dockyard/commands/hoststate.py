"""Host state: every path under a stack's `.dockyard/` and the scripts that read or write them.

The host is the shared storage of a deploy (the next run may start on another machine), so
everything a rerun needs lives here, next to the stack:

    <remote_dir>/                 the compose project directory (what the running stack reads)
    <remote_dir>/.dockyard/
        lock                      the deploy lease (owner, run id, expiry)
        attempt                   the open attempt of a release (journal key)
        lock.guard                the flock(1) file every lock change is made under
        journal/<attempt>/<step>  which steps of that attempt finished, with their results
        jobs/<attempt>/<job>/     a detached job: run.sh, pid (pid + start ticks), out, exit
        releases.jsonl            release history, newest last (bounded, rotated)
        restart-hashes.json       sha256 of the files restart rules watch
        images.override.yml       the rollback override (services pinned by digest)
        current                   the release whose files the project directory holds now
        releases/<release>/
            files/                a release's staged bundle and .env (the last N are kept)
            manifest              the relative paths dockyard put there, one per line
            config.<key>.json     its `compose config` (0600), per docker CLI and compose build
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from dockyard.commands.shell import quote

STATE_DIR = ".dockyard"


@dataclass(frozen=True)
class HostState:
    """The state paths of one stack on one host."""

    remote_dir: str

    def _at(self, *parts: str) -> str:
        return posixpath.join(self.remote_dir, STATE_DIR, *parts)

    @property
    def root(self) -> str:
        return self._at()

    @property
    def lock(self) -> str:
        return self._at("lock")

    @property
    def lock_guard(self) -> str:
        return self._at("lock.guard")

    @property
    def attempt(self) -> str:
        return self._at("attempt")

    @property
    def journal_dir(self) -> str:
        return self._at("journal")

    def journal(self, attempt: str) -> str:
        return self._at("journal", attempt)

    def journal_entry(self, attempt: str, step: str) -> str:
        return self._at("journal", attempt, f"{entry_name(step)}.json")

    @property
    def jobs_dir(self) -> str:
        return self._at("jobs")

    def job_dir(self, attempt: str, job: str) -> str:
        return self._at("jobs", attempt, entry_name(job))

    @property
    def releases_log(self) -> str:
        return self._at("releases.jsonl")

    @property
    def restart_hashes(self) -> str:
        return self._at("restart-hashes.json")

    @property
    def override(self) -> str:
        return self._at("images.override.yml")

    @property
    def releases_dir(self) -> str:
        return self._at("releases")

    def release_dir(self, release: str) -> str:
        return self._at("releases", release)

    @property
    def current(self) -> str:
        return self._at("current")

    def release_files(self, release: str) -> str:
        return self._at("releases", release, "files")

    def release_manifest(self, release: str) -> str:
        return self._at("releases", release, "manifest")


# Release switch scripts: stage a release beside the live one, switch it in at `up`, keep the
# last N. Each is one POSIX sh script; paths come from the manifests, never from the command line.

RELEASE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
BLOCKED = 4  # switch_release's exit status when a directory sits where a file goes


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


def link_outside(state: HostState, release: str, paths: Iterable[str]) -> str:
    """In the release's files dir, link each of `paths` (relative, not bundle files) to the
    same path in the project directory, made there as a directory if nothing is there yet
    (as Docker would at `up`): a job run in the release dir then bind-mounts the stack's live
    data, not an empty dir of the release. Paths already present are left as they are."""
    files = state.release_files(checked(release))
    lines = []
    for rel in paths:
        link, live = quote(posixpath.join(files, rel)), quote(posixpath.join(state.remote_dir, rel))
        parent = quote(posixpath.dirname(posixpath.join(files, rel)))
        lines.append(
            f"if [ ! -e {link} ] && [ ! -L {link} ]; then {{ [ -e {live} ] || mkdir -p -- "
            f"{live}; }} && mkdir -p -- {parent} && ln -s -- {live} {link}; fi"
        )
    return "; ".join(lines) or "true"


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
    then point `current` at the release. Prints what changed, as pending_changes does. Exits
    BLOCKED, changing nothing, when a directory sits where it installs a file (its paths on
    stderr, one per line)."""
    files = quote(state.release_files(checked(release)))
    manifest = quote(state.release_manifest(release))
    dst = quote(state.remote_dir)
    current = quote(state.current)
    return (
        f"set -e; [ -f {manifest} ] || {{ echo 'release {release} is not staged' >&2; exit 3; }}; "
        f'b=$(while IFS= read -r f; do [ -d {dst}/"$f" ] && echo "$f"; done < {manifest}; true); '
        f'if [ -n "$b" ]; then echo "$b" >&2; exit {BLOCKED}; fi; '
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


def entry_name(step: str) -> str:
    """A file name for a step key ("pull 127.0.0.1:5000/app:v2"): safe characters only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", step).strip("_")[:200] or "_"


# --- Recovery: the lease lock, the attempt journal, detached jobs, the release history --------
# Every script below is one round trip; each change of a file is a temp file then `mv`, so a
# reader sees the old or the new content, never a part.

LOCK_BUSY = 75  # exit status when the guard could not be taken in time
NO_FLOCK = 69  # exit status when the host has no flock(1)


def _under_guard(state: HostState, body: str, wait: int = 10) -> str:
    """`body` run holding the stack's flock guard: lock changes are serialized on the host."""
    return (
        f"command -v flock >/dev/null 2>&1 || exit {NO_FLOCK}; "
        f"mkdir -p {quote(state.root)} && umask 077 && exec 9>>{quote(state.lock_guard)} && "
        f"flock -w {wait} 9 || exit {LOCK_BUSY}; {body}"
    )


def lock_read(state: HostState) -> str:
    """Prints `<host now> <lock mtime or ->`, then the lock's content (none if absent)."""
    lock = quote(state.lock)
    return (
        f'printf \'%s %s\\n\' "$(date +%s)" "$(stat -c %Y {lock} 2>/dev/null || echo -)"; '
        f"cat {lock} 2>/dev/null; true"
    )


def lock_swap(state: HostState, expected: str | None, write: bool) -> str:
    """Compare-and-swap of the lock under the guard: if its content is `expected` (None: no
    lock file), replace it with stdin (`write`) or remove it, and print SWAPPED; else print
    CHANGED, then what lock_read prints."""
    lock = quote(state.lock)
    same = (
        f"[ ! -e {lock} ]"
        if expected is None
        else f'[ "$(cat {lock} 2>/dev/null)" = {quote(expected)} ]'
    )
    change = f't={lock}.$$ && cat > "$t" && mv "$t" {lock}' if write else f"rm -f {lock}"
    body = f"if {same}; then {change} && echo SWAPPED; else echo CHANGED; {lock_read(state)}; fi"
    return _under_guard(state, body)


def lock_remove(state: HostState, run_id: str | None) -> str:
    """Remove the lock under the guard if `run_id` holds it (None: whoever holds it); print
    REMOVED or KEPT."""
    lock = quote(state.lock)
    if run_id is None:
        test = f"[ -e {lock} ]"
    else:
        needle = quote('"run_id": "' + run_id + '"')
        test = f"grep -qF {needle} {lock} 2>/dev/null"
    return _under_guard(state, f"if {test}; then rm -f {lock} && echo REMOVED; else echo KEPT; fi")


def write_atomic(path: str) -> str:
    """Write stdin to `path` (mode 0600) through a temp file and `mv`."""
    directory = quote(posixpath.dirname(path))
    target = quote(path)
    return (
        f'mkdir -p {directory} && umask 077 && t={target}.tmp.$$ && cat > "$t" && mv "$t" {target}'
    )


def read_if_there(path: str) -> str:
    """Print the file's content, nothing if it is absent."""
    return f"cat {quote(path)} 2>/dev/null; true"


def keep_only(directory: str, keep: str) -> str:
    """Remove every entry of `directory` except `keep` (old attempts' journals and jobs)."""
    return (
        f"[ -d {quote(directory)} ] && find {quote(directory)} -mindepth 1 -maxdepth 1 "
        f"! -name {quote(keep)} -exec rm -rf {{}} +; true"
    )


def job_wrapper(job_dir: str, argv: list[str], timeout: int) -> str:
    """The script a detached job runs (own session): it records its pid and start ticks (so
    a later deployer tells it from a reused pid), runs the job bounded by `timeout`, and
    writes the exit status last."""
    d = quote(job_dir)
    command = " ".join(quote(a) for a in argv)
    return (
        f'echo "$$ $(cut -d" " -f22 /proc/$$/stat)" > {d}/pid.tmp && mv {d}/pid.tmp {d}/pid\n'
        f"date +%s > {d}/started\n"
        f"timeout {timeout} {command} > {d}/out 2>&1 < /dev/null\n"
        f"echo $? > {d}/exit.tmp && mv {d}/exit.tmp {d}/exit\n"
    )


def _job_state(d: str) -> str:
    """Print EXIT <status> if the job finished, RUNNING <pid> if its wrapper lives, else LOST."""
    return (
        f"if [ -f {d}/exit ]; then echo EXIT $(cat {d}/exit); "
        f"elif read pid ticks < {d}/pid 2>/dev/null && "
        f'[ "$(cut -d" " -f22 /proc/$pid/stat 2>/dev/null)" = "$ticks" ]; then echo RUNNING $pid; '
        f"elif [ -f {d}/exit ]; then echo EXIT $(cat {d}/exit); "
        f"else echo LOST $(cat {d}/started 2>/dev/null); fi"
    )


def _wait_for_end(d: str, wait: float) -> str:
    """sh: wait up to `wait` seconds (0.1 s steps) while the job has no exit status and its
    wrapper (same pid and start ticks) still lives."""
    return (
        f"i=0; while [ $i -lt {round(wait * 10)} ] && [ ! -f {d}/exit ] && "
        f"read pid ticks < {d}/pid 2>/dev/null && "
        f'[ "$(cut -d" " -f22 /proc/$pid/stat 2>/dev/null)" = "$ticks" ]; '
        "do sleep 0.1; i=$((i+1)); done"
    )


def _poll(d: str, offset: int, wait: float) -> str:
    """sh: wait for the job's end (at most `wait` s), print its state line (as _job_state's),
    then its output from byte `offset` (JOB_CHUNK bytes at most)."""
    return (
        f"{_wait_for_end(d, wait)}; {_job_state(d)}; "
        f"tail -c +{offset + 1} {d}/out 2>/dev/null | head -c {JOB_CHUNK}; true"
    )


JOB_CHUNK = 65536


def job_start(job_dir: str, wait: float, tail: int) -> str:
    """Start the job whose wrapper is on stdin, unless this attempt already ran or runs it,
    and follow it in the same round trip.

    The first line is EXIT 0 (finished earlier: not run again; the last `tail` bytes of its
    output follow), RUNNING <pid> (an earlier deployer's run still going: join it), LOST
    (started, wrapper gone without an exit status) or STARTED. After RUNNING or STARTED comes
    what job_poll prints, from offset 0 after waiting up to `wait` s for the job's end. A
    failed earlier run is moved aside to <dir>.failed.<time> and the job starts again."""
    d = quote(job_dir)
    return (
        f"mkdir -p {quote(posixpath.dirname(job_dir))} && umask 077; "
        f'if [ -f {d}/exit ] && [ "$(cat {d}/exit)" != 0 ]; then '
        f"mv {d} {d}.failed.$(date +%s).$$; fi; "
        f'if [ -d {d} ]; then s=$({_job_state(d)}); echo "$s"; case $s in '
        f"EXIT*) tail -c {tail} {d}/out 2>/dev/null ;; RUNNING*) {_poll(d, 0, wait)} ;; esac; "
        "exit 0; fi; "
        f"mkdir {d} && cat > {d}/run.sh && setsid -f sh {d}/run.sh < /dev/null > /dev/null 2>&1; "
        f"i=0; while [ ! -f {d}/pid ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; "
        f"echo STARTED; {_poll(d, 0, wait)}"
    )


def job_poll(job_dir: str, offset: int, wait: float) -> str:
    """Wait up to `wait` s for the job's end (returning as soon as it ends), then print its
    state line (as job_start's) and its output from byte `offset` (JOB_CHUNK bytes at most)."""
    return _poll(quote(job_dir), offset, wait)


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


def attempt_open(state: HostState, release: str, fresh: str) -> str:
    """Print the open attempt line of `release` ("<release> open <token>"), or make `fresh`
    (that line, for a new attempt) the open one, dropping older attempts' journals and jobs."""
    path = quote(state.attempt)
    token = fresh.rsplit(" ", 1)[-1]
    return (
        f"{mkdir_state(state)} && cur=$(cat {path} 2>/dev/null); "
        f'case "$cur" in {quote(release + " open ")}*) echo "$cur" ;; '
        f"*) {keep_only(state.journal_dir, token)}; {keep_only(state.jobs_dir, token)}; "
        f"printf '%s\\n' {quote(fresh)} > {path}.tmp.$$ && mv {path}.tmp.$$ {path} && "
        f"cat {path} ;; esac"
    )


def attempt_close(state: HostState, release: str, outcome: str) -> str:
    """Mark the attempt finished: the next deploy of any release opens a new one."""
    path = quote(state.attempt)
    line = quote(f"{release} {outcome}")
    return f"printf '%s\\n' {line} > {path}.tmp.$$ && mv {path}.tmp.$$ {path}"


def mkdir_state(state: HostState) -> str:
    return f"mkdir -p {quote(state.root)}"
