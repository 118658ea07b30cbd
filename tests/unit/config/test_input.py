"""Bad input to `dockyard validate`: exit 2, the field named, the fix given, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deployments.cli import main
from tests.unit.configkit import (
    ENVIRON,
    SECRET,
    VARIABLES,
    full_config,
    make_project,
    new_keypair,
    set_path,
    write,
)

BOMB = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]\n"
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory whose deploy key is deploy_key (public half deploy_key.pub)."""
    return make_project(tmp_path, new_keypair())


def validate(
    path: Path, sets: dict[str, str] | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    args = ["validate", "-c", str(path)]
    for key, value in (VARIABLES if sets is None else sets).items():
        args += ["--set", f"{key}={value}"]
    result = CliRunner().invoke(main, args, env=env or ENVIRON, catch_exceptions=False)
    return result.exit_code, result.output


def assert_refused(code: int, output: str, field: str, fragments: list[str]) -> None:
    assert code == 2, output
    assert "Traceback" not in output
    assert f" {field}: " in output if field else "problem" in output
    assert "fix: " in output
    for fragment in fragments:
        assert fragment in output
    assert SECRET not in output


FILE_CASES: list[tuple[str, bytes, list[str]]] = [
    ("alias bomb", ("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB).encode(),
     ["expands to over", "fewer nested aliases"]),
    ("not UTF-8", b"targets: caf\xe9\n", ["not UTF-8 text", "save it as UTF-8"]),
    ("empty", b"", ["the config file is empty", "add targets: and stacks:"]),
    ("comment only", b"# nothing\n", ["the config file is empty"]),
    ("not a mapping", b"- a\n- b\n", ["not a mapping", "start with targets:"]),
    ("a plain string", b"just text\n", ["not a mapping"]),
    ("oversized", b"# " + b"x" * (5 << 20) + b"\n", ["byte limit", "split it"]),
    ("nested too deep", b"a: " + b"[" * 20000 + b"]" * 20000 + b"\n", ["nests too deeply"]),
    ("syntax error", b"targets:\n  - name: vm1\n    host: [unclosed\n", ["YAML syntax error"]),
    ("duplicate key", b"disk:\n  min_free_gb: 1\n  min_free_gb: 2\n", ["duplicate key"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("content", "fragments"),
    [case[1:] for case in FILE_CASES],
    ids=[case[0] for case in FILE_CASES],
)
def test_unusable_file(tmp_path: Path, content: bytes, fragments: list[str]) -> None:
    path = tmp_path / "deploy.yaml"
    path.write_bytes(content)
    assert_refused(*validate(path), "", fragments)


def test_missing_file(tmp_path: Path) -> None:
    assert_refused(*validate(tmp_path / "nope.yaml"), "", ["cannot read the config file"])


FIELD_CASES: list[tuple[str, dict[str, Any], str, list[str]]] = [
    ("port: true", {"targets.0.port": True}, "targets[0].port",
     ["true is a boolean, not a number", "write a number"]),
    ("keepalive count bool", {"targets.0.keepalive_count_max": True},
     "targets[0].keepalive_count_max", ["boolean"]),
    ("max_channels bool", {"targets.0.max_channels": False}, "targets[0].max_channels",
     ["false is a boolean"]),
    ("disk number bool", {"disk.min_free_gb": True}, "disk.min_free_gb", ["boolean"]),
    ("keep_releases bool", {"disk.keep_releases": True}, "disk.keep_releases", ["boolean"]),
    ("parallel bool", {"images.parallel": True}, "images.parallel", ["boolean"]),
    ("http status bool", {"stacks.0.health.http.0.status": True},
     "stacks[0].health.http[0].status", ["boolean"]),
    ("job retries bool", {"stacks.0.jobs.1.retries": True}, "stacks[0].jobs[1].retries",
     ["boolean"]),
    ("duration bool", {"targets.0.connect_timeout": True}, "targets[0].connect_timeout",
     ["bad duration True"]),
    ("remote_dir //", {"stacks.0.remote_dir": "//"}, "stacks[0].remote_dir",
     ["not a normal path", "e.g. /opt/shop"]),
    ("remote_dir with //", {"stacks.0.remote_dir": "/opt//shop"}, "stacks[0].remote_dir",
     ["not a normal path"]),
    ("remote_dir with ..", {"stacks.0.remote_dir": "/opt/../etc"}, "stacks[0].remote_dir",
     ["not a normal path"]),
    ("remote_dir with .", {"stacks.0.remote_dir": "/opt/./shop"}, "stacks[0].remote_dir",
     ["not a normal path"]),
    ("remote_dir /", {"stacks.0.remote_dir": "/"}, "stacks[0].remote_dir",
     ["remote_dir is /", "a directory of its own"]),
    ("remote_dir relative", {"stacks.0.remote_dir": "opt/shop"}, "stacks[0].remote_dir",
     ["bad remote_dir", "absolute path"]),
    ("remote_dir with a space", {"stacks.0.remote_dir": "/opt/my shop"}, "stacks[0].remote_dir",
     ["bad remote_dir"]),
    ("host with ;", {"targets.0.host": "vm1;reboot"}, "targets[0].host",
     ["is not a host name or IP address", "without spaces"]),
    ("host with a space", {"targets.0.host": "vm 1"}, "targets[0].host", ["not a host name"]),
    ("host with $()", {"targets.0.host": "$(id)"}, "targets[0].host", ["not a host name"]),
    ("host with user@", {"targets.0.host": "root@vm1"}, "targets[0].host", ["user@ or :port"]),
    ("host with :port", {"targets.0.host": "vm1:22"}, "targets[0].host", ["not a host name"]),
    ("host in brackets", {"targets.0.host": "[::1]"}, "targets[0].host", ["without brackets"]),
    ("host with a newline", {"targets.0.host": "vm1\nvm2"}, "targets[0].host",
     ["not a host name"]),
    ("host label too long", {"targets.0.host": "a" * 64 + ".example"}, "targets[0].host",
     ["not a host name"]),
    ("user with ;", {"targets.0.user": "root;id"}, "targets[0].user",
     ["is not a login name", "letters, digits and ._-"]),
    ("user as an option", {"targets.0.user": "-oProxyCommand=x"}, "targets[0].user",
     ["not a login name"]),
    ("user with a space", {"targets.0.user": "deploy user"}, "targets[0].user",
     ["not a login name"]),
    ("user with $", {"targets.0.user": "$USER"}, "targets[0].user", ["not a login name"]),
    ("secret var in a job command",
     {"stacks.0.jobs.1.command": ["migrate", "--password", "${DB_PASSWORD}"]},
     "stacks[0].jobs[1].command[2]",
     ["${DB_PASSWORD} is a secret (${secret:DB_PASSWORD} in stacks[0].env.DB_PASSWORD)",
      "may not reach a command line", "let the container read it"]),
    ("registry password var in a hook",
     {"stacks.0.health.hooks.1.command": ["check", "${REGISTRY_TOKEN}"]},
     "stacks[0].health.hooks[1].command[1]",
     ["${REGISTRY_TOKEN} is a secret (images.registries[0].password_env)"]),
    ("key_env var in a URL",
     {"targets.0.key_file": None, "targets.0.key_env": "DEPLOY_KEY",
      "stacks.0.health.http.0.url": "http://127.0.0.1/?k=${DEPLOY_KEY}"},
     "stacks[0].health.http[0].url", ["${DEPLOY_KEY} is a secret (targets[0].key_env)"]),
    ("passphrase var in the user",
     {"targets.0.key_passphrase_env": "KEY_PASS", "targets.0.user": "${KEY_PASS}"},
     "targets[0].user", ["(targets[0].key_passphrase_env)"]),
    ("secret in a job command", {"stacks.0.jobs.1.command": ["echo", "${secret:DB_PASSWORD}"]},
     "stacks[0].jobs[1].command[1]",
     ["only allowed in stacks[].env values", "stacks[].env.NAME: ${secret:NAME}"]),
    ("secret in a hook command", {"stacks.0.health.hooks.1.command": ["${secret:DB_PASSWORD}"]},
     "stacks[0].health.hooks[1].command[0]", ["may not reach a command line"]),
    ("secret in remote_dir", {"stacks.0.remote_dir": "/opt/${secret:DB_PASSWORD}"},
     "stacks[0].remote_dir", ["only allowed in stacks[].env"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "field", "fragments"),
    [case[1:] for case in FIELD_CASES],
    ids=[case[0] for case in FIELD_CASES],
)
def test_bad_field(
    project: Path,
    changes: dict[str, Any],
    field: str,
    fragments: list[str],
) -> None:
    data = full_config()
    for path, value in changes.items():
        set_path(data, path, value)
    env = {
        **ENVIRON,
        "DEPLOY_KEY": (project / "deploy_key").read_text(),
        "KEY_PASS": "pass-" + SECRET,
    }
    code, output = validate(write(project, data), env=env)
    assert_refused(code, output, field, fragments)
    assert output.count("fix: ") == 1, output


IMAGE_CASES = [
    ("uppercase repository", "Registry.local/App:v1", "repository"),
    ("bad tag", "registry.local/app:-v1", "tag"),
    ("bad digest", "registry.local/app@sha256:abc", "digest"),
    ("image id", "a" * 64, "image ID"),
    ("trailing colon", "registry.local/app:", "tag"),
    ("space", "registry.local/app v1", "has spaces"),
    ("empty", "", "is empty"),
]


@pytest.mark.parametrize(
    ("ref", "fragment"), [c[1:] for c in IMAGE_CASES], ids=[c[0] for c in IMAGE_CASES]
)
def test_bad_per_deploy_image(project: Path, ref: str, fragment: str) -> None:
    code, output = validate(write(project, full_config()), {**VARIABLES, "APP_IMAGE": ref})
    assert_refused(
        code, output, "stacks[0].env.APP_IMAGE", ["per-deploy image APP_IMAGE", fragment,
                                                   "--set APP_IMAGE=registry/app:tag"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("host", "user"),
    [("10.0.0.5", "deploy"), ("::1", "root"), ("fe80::1%eth0", "ci_bot"),
     ("vm-1.example.com", "deploy.user"), ("build_host", "u-1")],
)  # fmt: skip
def test_good_hosts_and_users(project: Path, host: str, user: str) -> None:
    public = (project / "deploy_key.pub").read_text()
    (project / "known_hosts").write_text(f"[{host}]:2222 {public}")
    data = full_config()
    data["targets"][0].update(host=host, user=user)
    code, output = validate(write(project, data))
    assert (code, "Traceback" in output) == (0, False), output
    assert f"{user}@{host}:2222" in output


def test_remote_dir_trailing_slash_is_dropped(project: Path) -> None:
    from dockyard.config import load_config

    data = full_config()
    data["stacks"][0]["remote_dir"] = "/opt/shop/"
    config = load_config(write(project, data), VARIABLES, ENVIRON)
    assert config.stacks[0].remote_dir == "/opt/shop"


def test_symlinks_that_leave_the_bundle(project: Path) -> None:
    stack = project / "stack"
    (stack / "conf" / "same.conf").symlink_to("nginx.conf")
    (stack / "leak").symlink_to("../deploy_key")
    (stack / "conf" / "etc").symlink_to("/etc")
    code, output = validate(write(project, full_config()))
    assert_refused(code, output, "stacks[0].bundle", ["is a symlink that leaves the bundle"])
    assert f"{stack / 'leak'} is a symlink" in output
    assert f"{stack / 'conf' / 'etc'} is a symlink" in output
    assert "same.conf" not in output and output.count("fix: ") == 2
