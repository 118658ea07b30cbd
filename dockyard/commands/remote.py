"""What the SSH link itself runs on a host: the wrapper that records a command's process group,
its kill script, the env file it sources, and the checks and moves of a verified upload.

    ~/.dockyard-run/<token>.pid   the process group of a running command (kill on timeout)
    ~/.dockyard-run/<token>.env   its environment, sourced and deleted before it starts
    <dir>/.dockyard-stage-<hex>/  uploads in flight, moved into place once their sha256 match
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterable, Mapping, Sequence

from dockyard.commands.shell import quote, remove_tree, take_stdin
from dockyard.names import ENV_NAME

RUN_DIR = ".dockyard-run"
STAGE_PREFIX = ".dockyard-stage-"
MODES_MARK = "--modes--"
DIAL_STDIO = "docker system dial-stdio"
_HOME_RUN_DIR = f'"$HOME"/{RUN_DIR}'


def command_line(cmd: str | Sequence[str]) -> str:
    """A command as one line of shell: a string as it is, argv quoted word by word."""
    return cmd if isinstance(cmd, str) else shlex.join(cmd)


def env_path(token: str) -> str:
    """The env file of run `token`, relative to the login directory (where SFTP starts)."""
    return f"{RUN_DIR}/{token}.env"


def env_file(env: Mapping[str, str]) -> bytes:
    """`export NAME='value'` lines for `sh` to source; names must be plain shell names."""
    bad = [name for name in env if not ENV_NAME.fullmatch(name)]
    if bad:
        raise ValueError(f"bad environment variable names: {', '.join(map(repr, bad))}")
    return "".join(f"export {k}={quote(v)}\n" for k, v in env.items()).encode()


def wrap(command: str, token: str, with_env: bool) -> str:
    """The command under a POSIX sh that records its process group (for a kill on timeout)
    and, with env, sources and deletes the env file before the command starts."""
    pid_file = f"{_HOME_RUN_DIR}/{token}.pid"
    lines = [
        f"mkdir -p -m 700 {_HOME_RUN_DIR} && echo $$ > {pid_file} "
        f"|| {{ echo 'dockyard: cannot write {RUN_DIR}/{token}.pid' >&2; exit 125; }}"
    ]
    if with_env:
        env = f"{_HOME_RUN_DIR}/{token}.env"
        lines.append(
            f"loaded=1; [ -r {env} ] && . {env} && loaded=0; rm -f {env}; [ $loaded = 0 ] "
            f"|| {{ rm -f {pid_file}; echo 'dockyard: cannot read {RUN_DIR}/{token}.env' >&2; "
            "exit 125; }"
        )
    lines.append(f"sh -c {quote(command)}; status=$?")
    lines.append(f"rm -f {pid_file}; exit $status")
    return f"exec sh -c {quote(chr(10).join(lines))}"


def kill_script(token: str) -> str:
    """TERM the run's process group, KILL it after 3 s, wait until it is gone (exit 0 then);
    a run that never started (no pid file after 2 s) only has its env file removed."""
    env = f"{_HOME_RUN_DIR}/{token}.env"
    return "\n".join(
        [
            f"f={_HOME_RUN_DIR}/{token}.pid; i=0",
            'while [ ! -s "$f" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done',
            f'[ -s "$f" ] || {{ rm -f {env}; exit 0; }}',
            'p=$(cat "$f"); case $p in "" | *[!0-9]*) exit 1 ;; esac',
            'kill -TERM "-$p" 2>/dev/null; i=0',
            'while kill -0 "-$p" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done',
            'kill -KILL "-$p" 2>/dev/null; i=0',
            'while kill -0 "-$p" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done',
            f'rm -f "$f" {env}',
            '! kill -0 "-$p" 2>/dev/null',
        ]
    )


def file_state(remote_dir: str, names: Iterable[str]) -> str:
    """Print `sha256sum` lines, MODES_MARK, then `stat` mode lines of the named files under
    remote_dir that exist (read back with parse_file_state); a missing dir prints nothing."""
    quoted = " ".join(quote(n) for n in names)
    return (
        f"cd {quote(remote_dir)} 2>/dev/null || exit 0; "
        f"sha256sum -- {quoted} 2>/dev/null; echo '{MODES_MARK}'; "
        f"stat -c '%a %n' -- {quoted} 2>/dev/null; exit 0"
    )


def parse_file_state(output: str) -> dict[str, tuple[str, int]]:
    """sha256 and permission bits of each file that file_state() found."""
    sums_text, _, modes_text = output.partition(f"{MODES_MARK}\n")
    sums = {}
    for line in sums_text.splitlines():
        digest, sep, name = line.partition("  ")
        if sep and not digest.startswith("\\"):
            sums[name] = digest
    modes = {}
    for line in modes_text.splitlines():
        mode, sep, name = line.partition(" ")
        if sep and mode.isdigit():
            modes[name] = int(mode, 8) & 0o7777
    return {name: (sums[name], modes[name]) for name in sums if name in modes}


def stage_dir(parent: str, suffix: str) -> str:
    """The private directory uploads into `parent` are staged in."""
    return posixpath.join(parent, f"{STAGE_PREFIX}{suffix}")


def make_stage(stage: str, target_dirs: Iterable[str]) -> str:
    """Create the target directories and a fresh 0700 stage (failing if it exists)."""
    return (
        f"{shlex.join(['mkdir', '-p', '--', *target_dirs])} && "
        f"{shlex.join(['mkdir', '-m', '700', '--', stage])}"
    )


def install_staged(stage: str, files: Sequence[tuple[str, str]]) -> tuple[str, bytes]:
    """Check `<stage>/<n>` against the sha256 of files[n] = (sha256, target), create the
    targets' directories, move each file onto its target (an atomic rename on one file system;
    `mv -T`: a link at the target is replaced, never followed) and remove the stage. Returns
    the script and the `sha256sum -c` input it reads on stdin."""
    checks = "".join(f"{sha256}  {stage}/{n}\n" for n, (sha256, _) in enumerate(files))
    sums = f"{stage}/sums"
    dirs = sorted({posixpath.dirname(target) or "." for _, target in files})
    moves = " && ".join(
        shlex.join(["mv", "-fT", "--", f"{stage}/{n}", target])
        for n, (_, target) in enumerate(files)
    )
    return (
        f"{take_stdin(quote(sums), len(checks.encode()))} && sha256sum -c --quiet {quote(sums)} && "
        f"{shlex.join(['mkdir', '-p', '--', *dirs])} && {moves} && rm -f -- {quote(sums)} && "
        f"rmdir -- {quote(stage)}",
        checks.encode(),
    )


def drop_stage(stage: str) -> str:
    """Remove a stage an upload left behind."""
    return remove_tree(stage)


def dial_stdio() -> str:
    """The docker CLI's stdio bridge to the engine's API socket (one HTTP connection)."""
    return DIAL_STDIO
