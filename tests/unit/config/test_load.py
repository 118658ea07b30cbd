"""The loader of deploy.yaml: a full config, defaults, every problem collected with its line,
interpolation, YAML errors, secrets kept out of everything (tmp_path configs, no remote contact)."""

from __future__ import annotations

import pickle
import traceback
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dockyard.config import (
    ConfigError,
    PerDeployImage,
    load_config,
)
from dockyard.host.identity import config_hash
from tests.unit.configkit import (
    DELETE,
    ENVIRON,
    KEY_DATA_MARK,
    SECRET,
    VARIABLES,
    full_config,
    load,
    new_keypair,
    problems_of,
    set_path,
    write,
)


def test_full_config_loads(project: Path) -> None:
    config = load(project, full_config())
    target = config.targets[0]
    assert (target.port, target.user, target.max_channels) == (2222, "deploy", 6)
    assert target.key_file == project / "deploy_key"
    assert target.known_hosts == project / "known_hosts"
    assert (target.keepalive_interval, target.keepalive_count_max) == (20.0, 3)
    stack = config.stacks[0]
    assert stack.bundle == project / "stack"
    assert stack.env["APP_IMAGE"] == "registry.local/app:abc123"
    assert stack.env["LOG_LEVEL"] == "info"
    assert (stack.env["WORKERS"], stack.env["DEBUG"], stack.env["PRICE"]) == ("4", "false", "$5")
    assert isinstance(stack.env["DATABASE_URL"], SecretStr)
    assert stack.revealed_env()["DATABASE_URL"] == f"postgres://shop:{SECRET}@db/shop"
    assert [j.kind for j in stack.jobs] == ["up-wait", "run"]
    assert stack.jobs[0].timeout == 120.0
    assert stack.up.wait_timeout == 300.0 and stack.up.remove_orphans is False
    assert stack.service_refs() == [
        ("jobs[0].service", "db"),
        ("jobs[1].service", "migrator"),
        ("up.stop_first[0]", "worker"),
        ("restarts[0].service", "nginx"),
        ("health.hooks[1].service", "app"),
    ]
    assert config.images.services["worker"].pull == "always"
    assert config.images.per_deploy == ["APP_IMAGE", "MIGRATOR_IMAGE"]
    assert config.per_deploy_images() == [
        PerDeployImage("shop", "APP_IMAGE", "registry.local/app:abc123"),
        PerDeployImage("shop", "MIGRATOR_IMAGE", "registry.local/mig:1"),
    ]
    registry = config.images.registries[0]
    assert registry.password is not None
    assert registry.password.get_secret_value() == SECRET + "-reg"
    assert (config.disk.min_free_gb, config.disk.keep_releases) == (20, 5)
    assert config.steps.policy("pull").model_dump() == {
        "timeout": 3600.0,
        "retries": 4,
        "retry_delay": 3.0,
    }
    assert config.steps.policy("sync").timeout == 600.0
    assert (config.steps.lock.wait, config.steps.lock.expiry) == (10800.0, 7200.0)
    assert SECRET in config.secret_values()


def test_defaults(project: Path) -> None:
    data = {
        "targets": [{"name": "vm1", "host": "h", "agent": True, "host_key": _host_key()}],
        "stacks": [{"project": "shop", "bundle": "stack", "remote_dir": "/opt/shop"}],
        "images": None,
    }
    config = load(project, data, environ={"SSH_AUTH_SOCK": "/tmp/agent.sock"})
    target = config.targets[0]
    assert (target.port, target.user, target.keepalive_interval) == (22, "root", 15.0)
    assert (target.keepalive_count_max, target.connect_timeout, target.max_channels) == (4, 10, 8)
    stack = config.stacks[0]
    assert stack.compose_files == ["docker-compose.yml"]
    assert stack.up.remove_orphans is True and stack.health.compose is True
    assert (config.images.parallel, config.images.moving_tags) == (3, ["latest"])
    assert config.images.per_deploy == []
    assert (config.disk.min_free_gb, config.disk.max_used_pct, config.disk.keep_releases) == (
        15,
        70,
        3,
    )
    assert config.steps.policy("preflight").model_dump() == {
        "timeout": 600.0,
        "retries": 2,
        "retry_delay": 5.0,
    }


def _host_key() -> str:
    return new_keypair()[1]


BAD_CONFIGS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "work pool name with capitals and spaces",
        {"targets.0.pool": "DC East"},
        "targets[0].pool",
        ["bad work pool name 'DC East'", "lowercase letters, digits and -"],
    ),
    (
        "unknown key, nearest match",
        {"targets.0.keepalive": 5},
        "targets[0].keepalive",
        ["unknown key 'keepalive'", "did you mean 'keepalive_interval'?"],
    ),
    (
        "unknown top-level key",
        {"stack": []},
        "stack",
        ["unknown key 'stack'", "did you mean 'stacks'?", "allowed keys: targets, stacks"],
    ),
    (
        "unknown step name",
        {"steps.pul": {"retries": 1}},
        "steps.pul",
        ["did you mean 'pull'?"],
    ),
    (
        "missing variable",
        {"stacks.0.env.APP_IMAGE": "${APP_TAG}"},
        "stacks[0].env.APP_IMAGE",
        ["variable APP_TAG is not set", "pass --set APP_TAG=... or export APP_TAG"],
    ),
    (
        "missing required variable",
        {"stacks.0.required": ["APP_IMAGE", "RELEASE_ID"]},
        "stacks[0].required[1]",
        ["required variable RELEASE_ID", "pass --set RELEASE_ID=... or export RELEASE_ID"],
    ),
    (
        "missing secret env var",
        {"stacks.0.env.API_KEY": "${secret:API_KEY}"},
        "stacks[0].env.API_KEY",
        ["secret API_KEY is not set", "export API_KEY"],
    ),
    (
        "secret outside env",
        {"targets.0.user": "${secret:DB_PASSWORD}"},
        "targets[0].user",
        ["only allowed in stacks[].env", "key_env"],
    ),
    (
        "unsupported expression",
        {"stacks.0.env.X": "${X:?need it}"},
        "stacks[0].env.X",
        ["unsupported expression ${X:?need it}", "${VAR:-default}"],
    ),
    (
        "nested default",
        {"stacks.0.env.LOG_LEVEL": "${LOG_LEVEL:-${DEFAULT_LEVEL}}"},
        "stacks[0].env.LOG_LEVEL",
        ["nested ${...} in the default of LOG_LEVEL", "plain default"],
    ),
    (
        "bad duration",
        {"steps.pull.timeout": "5 minutes"},
        "steps.pull.timeout",
        ["bad duration '5 minutes'", "1m30s"],
    ),
    (
        "bad job duration",
        {"stacks.0.jobs.0.timeout": "2mins"},
        "stacks[0].jobs[0].timeout",
        ["bad duration '2mins'"],
    ),
    (
        "zero wait timeout",
        {"stacks.0.up.wait_timeout": 0},
        "stacks[0].up.wait_timeout",
        ["more than 0"],
    ),
    (
        "missing bundle",
        {"stacks.0.bundle": "./nope"},
        "stacks[0].bundle",
        ["nope does not exist", "relative paths start at the config file's directory"],
    ),
    (
        "compose file missing in bundle",
        {"stacks.0.compose_files": ["docker-compose.yml", "compose.override.yml"]},
        "stacks[0].compose_files[1]",
        ["'compose.override.yml' is not a file in bundle", "create it there"],
    ),
    (
        "restart file escapes bundle",
        {"stacks.0.restarts.0.files": ["../deploy_key"]},
        "stacks[0].restarts[0].files[0]",
        ["must be a relative path inside the bundle"],
    ),
    (
        "missing key file",
        {"targets.0.key_file": "~/definitely-missing-key"},
        "targets[0].key_file",
        ["cannot read key_file", "No such file", "fix the path"],
    ),
    (
        "public key as key file",
        {"targets.0.key_file": "deploy_key.pub"},
        "targets[0].key_file",
        ["is a public key", "without .pub"],
    ),
    (
        "key_file and key_env",
        {"targets.0.key_env": "DB_PASSWORD"},
        "targets[0].key_env",
        ["key_file and key_env are both set", "keep one key source"],
    ),
    (
        "no key source",
        {"targets.0.key_file": DELETE},
        "targets[0].key_file",
        ["no SSH key source", "agent: true"],
    ),
    (
        "key_env var missing",
        {"targets.0.key_file": DELETE, "targets.0.key_env": "DEPLOY_SSH_KEY"},
        "targets[0].key_env",
        ["DEPLOY_SSH_KEY is not set", "export DEPLOY_SSH_KEY"],
    ),
    (
        "key_env does not hold a key",
        {"targets.0.key_file": DELETE, "targets.0.key_env": "DB_PASSWORD"},
        "targets[0].key_env",
        ["does not hold a private key", "whole private key"],
    ),
    (
        "agent without SSH_AUTH_SOCK",
        {"targets.0.key_file": DELETE, "targets.0.agent": True},
        "targets[0].agent",
        ["SSH_AUTH_SOCK is not set", "ssh-add"],
    ),
    (
        "no host key pinned",
        {"targets.0.known_hosts": DELETE},
        "targets[0].known_hosts",
        ["no host key pinned", "ssh-keyscan -p 2222 127.0.0.1"],
    ),
    (
        "known_hosts lacks the host",
        {"targets.0.port": 2200},
        "targets[0].known_hosts",
        ["has no key for [127.0.0.1]:2200", "ssh-keyscan -p 2200 127.0.0.1"],
    ),
    (
        "host_key with a host name",
        {"targets.0.known_hosts": DELETE, "targets.0.host_key": "vm1 ssh-ed25519 AAAA"},
        "targets[0].host_key",
        ["starts with a host name", "without the host name"],
    ),
    (
        "host_key garbage",
        {"targets.0.known_hosts": DELETE, "targets.0.host_key": "ssh-ed25519 !!!"},
        "targets[0].host_key",
        ["host_key is not a valid key", "ssh-ed25519 AAAA"],
    ),
    (
        "keepalive count zero",
        {"targets.0.keepalive_count_max": 0},
        "targets[0].keepalive_count_max",
        ["at least 1 when keepalive is on", "keepalive_interval: 0"],
    ),
    (
        "too many channels",
        {"targets.0.max_channels": 10},
        "targets[0].max_channels",
        ["less than or equal to 9", "lower the value"],
    ),
    (
        "bad project name",
        {"stacks.0.project": "Shop"},
        "stacks[0].project",
        ["bad project name 'Shop'", "lowercase letters"],
    ),
    (
        "relative remote_dir",
        {"stacks.0.remote_dir": "opt/shop"},
        "stacks[0].remote_dir",
        ["bad remote_dir", "absolute path"],
    ),
    (
        "remote_dir is root",
        {"stacks.0.remote_dir": "/"},
        "stacks[0].remote_dir",
        ["remote_dir is /", "a directory of its own"],
    ),
    (
        "bad port type",
        {"targets.0.port": "ssh"},
        "targets[0].port",
        ["valid integer", "use a whole number"],
    ),
    (
        "missing host",
        {"targets.0.host": DELETE},
        "targets[0].host",
        ["host is required", "add host:"],
    ),
    (
        "retries on a job that is not rerun safe",
        {"stacks.0.jobs.1.rerun_safe": False},
        "stacks[0].jobs[1].retries",
        ["could apply it twice", "rerun_safe: true"],
    ),
    (
        "up-wait job with command",
        {"stacks.0.jobs.0.command": ["postgres"]},
        "stacks[0].jobs[0].command",
        ["takes no command"],
    ),
    (
        "command as a string",
        {"stacks.0.jobs.1.command": "python manage.py migrate"},
        "stacks[0].jobs[1].command",
        ["valid list", "use a YAML list"],
    ),
    (
        "hook with http and service",
        {"stacks.0.health.hooks.0.service": "app"},
        "stacks[0].health.hooks[0]",
        ["either http or service + command", "exactly one"],
    ),
    (
        "bad health url",
        {"stacks.0.health.http.0.url": "127.0.0.1:8080/health"},
        "stacks[0].health.http[0].url",
        ["bad URL", "http://127.0.0.1:8080/health"],
    ),
    (
        "bad pull policy",
        {"images.services.worker.pull": "sometimes"},
        "images.services.worker.pull",
        ["'always', 'missing', 'changed' or 'never'", "one of the values"],
    ),
    (
        "parallel out of range",
        {"images.parallel": 17},
        "images.parallel",
        ["less than or equal to 16"],
    ),
    (
        "registry password missing",
        {"images.registries.0.password_env": "GHCR_TOKEN"},
        "images.registries[0].password_env",
        ["GHCR_TOKEN is not set", "export GHCR_TOKEN"],
    ),
    (
        "registry host with scheme",
        {"images.registries.0.host": "https://registry.local"},
        "images.registries[0].host",
        ["bad registry host", "bare host"],
    ),
    (
        "per_deploy names no env",
        {"images.per_deploy": ["APP_IMAGES"]},
        "images.per_deploy[0]",
        ["no stack's env sets", "APP_IMAGE: ${APP_IMAGE}"],
    ),
    (
        "bad env name",
        {"stacks.0.env.bad-name": "x"},
        "stacks[0].env.bad-name",
        ["bad variable name 'bad-name'", "letters, digits and _"],
    ),
    (
        "env value is a list",
        {"stacks.0.env.HOSTS": ["a", "b"]},
        "stacks[0].env.HOSTS",
        ["single value"],
    ),
    (
        "disk pct over 100",
        {"disk.max_used_pct": 120},
        "disk.max_used_pct",
        ["less than or equal to 100"],
    ),
    (
        "lock wait not above its expiry",
        {"steps.lock": {"wait": "30s", "expiry": "1m"}},
        "steps.lock.wait",
        ["not above steps.lock.expiry", "set wait above 60 s"],
    ),
    (
        "no targets",
        {"targets": []},
        "targets",
        ["at least 1 item", "add at least one item"],
    ),
]


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_bad_config(
    project: Path, changes: dict[str, Any], field: str, expected: list[str]
) -> None:
    data = full_config()
    for path, value in changes.items():
        set_path(data, path, value)
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == [field]
    text = str(error)
    assert f"{project / 'deploy.yaml'}:" in text
    assert f" {field}: " in text
    for fragment in expected:
        assert fragment in text


def test_problems_are_collected_with_lines(project: Path) -> None:
    data = full_config()
    data["targets"][0]["port"] = "ssh"
    data["stacks"][0]["env"]["APP_IMAGE"] = "${NOT_GIVEN}"
    data["disk"]["keep_releases"] = 0
    path = write(project, data)
    lines = path.read_text().splitlines()
    error = problems_of(project, data)
    by_field = {p.field: p for p in error.problems}
    assert set(by_field) == {"targets[0].port", "stacks[0].env.APP_IMAGE", "disk.keep_releases"}
    for field, key in [("targets[0].port", "port:"), ("disk.keep_releases", "keep_releases:")]:
        line = by_field[field].line
        assert line is not None and lines[line - 1].strip().startswith(key)
        assert f"deploy.yaml:{line}: {field}:" in str(error)


def test_failed_interpolation_hides_follow_on_errors(project: Path) -> None:
    data = full_config()
    data["targets"][0]["port"] = "${SSH_PORT}"
    error = problems_of(project, data)
    assert [(p.field, p.message) for p in error.problems] == [
        ("targets[0].port", "variable SSH_PORT is not set")
    ]
    config = load(project, data, variables={**VARIABLES, "SSH_PORT": "2222"})
    assert config.targets[0].port == 2222


def test_set_typo_is_hinted(project: Path) -> None:
    error = problems_of(project, full_config(), variables={"APP_IMGE": "x", "MIGRATOR_IMAGE": "m"})
    assert "you passed --set APP_IMGE; a typo?" in str(error)
    data = full_config()
    data["stacks"][0]["env"]["OTHER"] = "${APP_IMAGES}"
    assert "a typo?" not in str(problems_of(project, data))


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("targets:\n  - name: vm1\n    host: [unclosed\n", 4, "YAML syntax error"),
        ("targets:\n  - name: vm1\n name: x\n", 3, "YAML syntax error"),
        ("disk:\n  min_free_gb: 1\n  min_free_gb: 2\n", 3, "duplicate key 'min_free_gb'"),
        ("- a\n- b\n", 1, "not a mapping"),
    ],
)
def test_yaml_errors_have_lines(project: Path, text: str, line: int, fragment: str) -> None:
    error = problems_of(project, text)
    assert [p.line for p in error.problems] == [line]
    assert fragment in str(error) and f"deploy.yaml:{line}:" in str(error)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "---\n"])
def test_empty_file(project: Path, text: str) -> None:
    error = problems_of(project, text)
    assert "the config file is empty" in str(error) and "add targets: and stacks:" in str(error)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file: No such file") as info:
        load_config(tmp_path / "nope.yaml", environ={})
    assert info.value.path == tmp_path / "nope.yaml"


def test_anchors_merge_and_extension_keys(project: Path) -> None:
    text = """\
x-link: &link
  port: 2222
  known_hosts: known_hosts
  key_file: deploy_key
targets:
  - name: vm1
    host: 127.0.0.1
    <<: *link
  - name: vm2
    host: 127.0.0.1
    <<: *link
    keepalive_interval: 0
stacks:
  - project: shop
    bundle: stack
    remote_dir: /opt/shop
"""
    config = load(project, text)
    assert [t.port for t in config.targets] == [2222, 2222]
    assert config.targets[1].keepalive_interval == 0


def test_secrets_never_leak(project: Path, keypair: tuple[str, str]) -> None:
    data = full_config()
    del data["targets"][0]["key_file"]
    data["targets"][0]["key_env"] = "DEPLOY_SSH_KEY"
    data["targets"][0]["key_passphrase_env"] = "KEY_PASS"
    environ = {**ENVIRON, "DEPLOY_SSH_KEY": keypair[0], "KEY_PASS": SECRET + "-pass"}
    config = load(project, data, environ=environ)
    target = config.targets[0]
    assert target.private_key is not None and target.passphrase is not None
    assert target.private_key.get_secret_value() == keypair[0]
    assert config.images.registries[0].password is not None
    dumps = [
        repr(config),
        str(config),
        config.model_dump_json(),
        str(config.model_dump()),
        repr(config.stacks[0].env),
        repr(target),
        repr(config.images.registries[0]),
        config_hash(config, lambda: b"k" * 32),
    ]
    for text in dumps:
        assert SECRET not in text and KEY_DATA_MARK not in text
    assert SECRET in config.stacks[0].revealed_env()["DB_PASSWORD"]
    assert pickle.loads(pickle.dumps(config)).targets[0].passphrase == target.passphrase


def _assert_no_secret(error: ConfigError) -> None:
    texts = [str(error), repr(error), *map(repr, error.problems)]
    texts.append("".join(traceback.format_exception(error)))
    for text in texts:
        assert SECRET not in text and KEY_DATA_MARK not in text


@pytest.mark.parametrize(
    "changes",
    [
        {"steps.pull.timeout": "5 minutes"},
        {"images.per_deploy": ["DB_PASSWORD"]},
        {"stacks.0.jobs.1.command": ["echo", "${secret:DB_PASSWORD}"]},
        {"targets.0.key_file": DELETE, "targets.0.key_env": "DB_PASSWORD"},
        {"targets.0.host": "${secret:DB_PASSWORD}"},
        {"stacks.0.env.DB_PASSWORD": {"nested": "${secret:DB_PASSWORD}"}},
        {"stacks.0.env.PORT": "${secret:DB_PASSWORD}", "disk.min_free_gb": "${secret:DB_PASSWORD}"},
    ],
    ids=["unrelated", "per-deploy secret", "command", "key_env", "host", "nested", "typed"],
)
def test_secrets_never_in_errors(project: Path, changes: dict[str, Any]) -> None:
    data = full_config()
    for path, value in changes.items():
        set_path(data, path, value)
    _assert_no_secret(problems_of(project, data))


def test_variable_precedence(project: Path) -> None:
    data = full_config()
    data["stacks"][0]["env"]["LOG_LEVEL"] = "${LOG_LEVEL:-info}"
    environ = {**ENVIRON, "APP_IMAGE": "env/app:1", "LOG_LEVEL": "debug"}
    from_env = load(project, data, variables={"MIGRATOR_IMAGE": "m"}, environ=environ)
    assert from_env.stacks[0].env["APP_IMAGE"] == "env/app:1"
    assert from_env.stacks[0].env["LOG_LEVEL"] == "debug"
    from_set = load(project, data, variables={**VARIABLES, "LOG_LEVEL": "warn"}, environ=environ)
    assert from_set.stacks[0].env["APP_IMAGE"] == VARIABLES["APP_IMAGE"]
    assert from_set.stacks[0].env["LOG_LEVEL"] == "warn"
    empty = load(project, data, variables={**VARIABLES, "LOG_LEVEL": ""}, environ=environ)
    assert empty.stacks[0].env["LOG_LEVEL"] == "info"


def test_secrets_come_only_from_the_environment(project: Path) -> None:
    variables = {**VARIABLES, "DB_PASSWORD": SECRET}
    error = problems_of(project, full_config(), variables=variables, environ={})
    fields = {p.field: p.message for p in error.problems}
    assert "never read from --set" in fields["stacks[0].env.DB_PASSWORD"]
    _assert_no_secret(error)


def test_dollar_escapes(project: Path) -> None:
    data = full_config()
    data["stacks"][0]["env"]["A"] = "$$HOME and $PATH and $${X}"
    assert load(project, data).stacks[0].env["A"] == "$HOME and $PATH and ${X}"
    data["stacks"][0]["env"]["A"] = "${UNCLOSED"
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == ["stacks[0].env.A"]
    assert "unclosed ${" in str(error)
