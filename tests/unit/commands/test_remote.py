"""The SSH link's own command builders, tested as strings and run in a local `sh`."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from dockyard.commands import remote

TOKEN = "0123456789abcdef"


def sh(
    script: str, home: Path, *, cwd: Path | None = None, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    """Run a script the way sshd would: one `sh -c`, with HOME set (a bounded local call)."""
    return subprocess.run(
        ["sh", "-c", script],
        env={"PATH": os.environ["PATH"], "HOME": str(home)},
        cwd=cwd or home,
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_command_line_quotes_argv_and_keeps_strings() -> None:
    assert remote.command_line(["rm", "-rf", "/tmp/a b"]) == "rm -rf '/tmp/a b'"
    assert remote.command_line("echo $HOME") == "echo $HOME"


def test_env_file_exports_quoted_values_and_refuses_bad_names() -> None:
    body = remote.env_file({"DB_PASSWORD": "it's $secret", "A1": ""})
    assert body == b"export DB_PASSWORD='it'\"'\"'s $secret'\nexport A1=''\n"
    with pytest.raises(ValueError, match=r"bad environment variable names: '1X', 'A-B'"):
        remote.env_file({"1X": "v", "OK": "v", "A-B": "v"})
    assert remote.env_path(TOKEN) == f".dockyard-run/{TOKEN}.env"


def test_wrap_records_the_pid_and_keeps_the_command_off_the_outer_line() -> None:
    text = remote.wrap("echo 'hi'", TOKEN, with_env=False)
    assert text.startswith("exec sh -c ")
    assert f'"$HOME"/.dockyard-run/{TOKEN}.pid' in text
    assert ".env" not in text
    assert f'. "$HOME"/.dockyard-run/{TOKEN}.env' in remote.wrap("true", TOKEN, with_env=True)


def test_wrapped_command_sources_then_deletes_its_env_and_keeps_the_exit_status(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / remote.RUN_DIR
    run_dir.mkdir(mode=0o700)
    (run_dir / f"{TOKEN}.env").write_bytes(remote.env_file({"SECRET": "it's $x"}))
    done = sh(remote.wrap('printf %s "$SECRET"; exit 3', TOKEN, with_env=True), tmp_path)
    assert (done.returncode, done.stdout) == (3, b"it's $x")
    assert list(run_dir.iterdir()) == []


def test_a_missing_env_file_stops_the_command_before_it_starts(tmp_path: Path) -> None:
    done = sh(remote.wrap("echo ran", TOKEN, with_env=True), tmp_path)
    assert done.returncode == 125
    assert b"ran" not in done.stdout
    assert b"cannot read .dockyard-run/" in done.stderr
    assert list((tmp_path / remote.RUN_DIR).iterdir()) == []


def test_kill_script_terms_then_kills_the_process_group() -> None:
    text = remote.kill_script(TOKEN)
    assert f'f="$HOME"/.dockyard-run/{TOKEN}.pid' in text
    assert text.index('kill -TERM "-$p"') < text.index('kill -KILL "-$p"')
    assert text.endswith('! kill -0 "-$p" 2>/dev/null')


def test_kill_of_a_run_that_never_started_still_removes_its_env_file(tmp_path: Path) -> None:
    run_dir = tmp_path / remote.RUN_DIR
    run_dir.mkdir()
    (run_dir / f"{TOKEN}.env").write_text("export SECRET=x\n")
    done = sh(remote.kill_script(TOKEN), tmp_path)
    assert done.returncode == 0
    assert list(run_dir.iterdir()) == []


def test_file_state_reads_back_sums_and_modes_of_the_files_that_exist(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "a b.env").write_bytes(b"A=1\n")
    (tmp_path / "conf" / "a b.env").chmod(0o600)
    (tmp_path / "run.sh").write_bytes(b"#!/bin/sh\n")
    (tmp_path / "run.sh").chmod(0o755)
    names = ["conf/a b.env", "run.sh", "missing.yml"]
    script = remote.file_state(str(tmp_path), names)
    assert f"cd {tmp_path} 2>/dev/null || exit 0;" in script
    assert "'conf/a b.env'" in script
    state = remote.parse_file_state(sh(script, tmp_path).stdout.decode())
    assert state == {
        "conf/a b.env": (hashlib.sha256(b"A=1\n").hexdigest(), 0o600),
        "run.sh": (hashlib.sha256(b"#!/bin/sh\n").hexdigest(), 0o755),
    }
    assert (
        remote.parse_file_state(
            sh(remote.file_state(str(tmp_path / "nope"), names), tmp_path).stdout.decode()
        )
        == {}
    )


def test_parse_file_state_skips_escaped_names_and_odd_lines() -> None:
    output = "\\abc  weird\\nname\nabc  ok\n--modes--\n644 ok\nnoise\n600 weird\\nname\n"
    assert remote.parse_file_state(output) == {"ok": ("abc", 0o644)}


def test_stage_install_and_drop_quote_every_path() -> None:
    stage = remote.stage_dir("/srv/my app", "beef")
    assert stage == "/srv/my app/.dockyard-stage-beef"
    assert remote.make_stage(stage, [".", "/srv/my app/conf"]) == (
        "mkdir -p -- . '/srv/my app/conf' && mkdir -m 700 -- '/srv/my app/.dockyard-stage-beef'"
    )
    script, checks = remote.install_staged(stage, [("aa", "/srv/my app/x"), ("bb", "/srv/y")])
    assert checks == (
        b"aa  /srv/my app/.dockyard-stage-beef/0\nbb  /srv/my app/.dockyard-stage-beef/1\n"
    )
    sums = "'/srv/my app/.dockyard-stage-beef/sums'"
    assert script == (
        f'cat > {sums} && [ "$(wc -c < {sums})" -eq {len(checks)} ] && '
        f"sha256sum -c --quiet {sums} && mkdir -p -- /srv '/srv/my app' && "
        "mv -fT -- '/srv/my app/.dockyard-stage-beef/0' '/srv/my app/x' && "
        "mv -fT -- '/srv/my app/.dockyard-stage-beef/1' /srv/y && "
        f"rm -f -- {sums} && rmdir -- '/srv/my app/.dockyard-stage-beef'"
    )
    assert remote.drop_stage(stage) == "rm -rf -- '/srv/my app/.dockyard-stage-beef'"


def test_staged_install_moves_only_files_whose_sha256_matches(tmp_path: Path) -> None:
    stage = remote.stage_dir(str(tmp_path), "1")
    assert sh(remote.make_stage(stage, [str(tmp_path)]), tmp_path).returncode == 0
    assert sh(remote.make_stage(stage, [str(tmp_path)]), tmp_path).returncode != 0
    Path(stage, "0").write_bytes(b"new\n")
    target = tmp_path / "conf" / "app.env"
    wrong, _ = remote.install_staged(stage, [("0" * 64, str(target))])
    _, wrong_checks = remote.install_staged(stage, [("0" * 64, str(target))])
    assert sh(wrong, tmp_path, stdin=wrong_checks).returncode != 0
    assert not target.exists()
    script, checks = remote.install_staged(
        stage, [(hashlib.sha256(b"new\n").hexdigest(), str(target))]
    )
    assert sh(script, tmp_path, stdin=checks).returncode == 0
    assert target.read_bytes() == b"new\n"
    assert not Path(stage).exists()


def test_dial_stdio_is_the_docker_cli_bridge() -> None:
    assert remote.dial_stdio() == "docker system dial-stdio"
