"""LinkSettings validation and repr, link error messages, and the link pool's bookkeeping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dockyard.config import TargetConfig
from dockyard.ssh.errors import CommandFailed, CommandTimeout, HostKeyRejected, LinkDown
from dockyard.ssh.link import Link
from dockyard.ssh.pool import LinkPool
from dockyard.ssh.settings import LinkSettings

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAII0mk20tdQO7KBEj8XBm1BvPuE/bjqhiF6zQ9hBmxO1w"
KEY_TEXT = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-key-body\n-----END OPENSSH PRIVATE KEY-----\n"
)


def settings(**overrides: Any) -> LinkSettings:
    values: dict[str, Any] = {"name": "vm1", "host": "10.0.0.5", "key_data": KEY_TEXT}
    values["host_key"] = HOST_KEY
    values.update(overrides)
    return LinkSettings(**values)


def test_defaults_match_openssh_style_keepalive() -> None:
    s = settings()
    assert (s.port, s.user, s.keepalive_interval, s.keepalive_count_max) == (22, "root", 15, 4)
    assert s.dead_after == 60
    assert s.max_channels == 8
    assert s.label == "vm1 (root@10.0.0.5:22)"
    assert s.known_hosts_name == "10.0.0.5"
    assert settings(port=2222).known_hosts_name == "[10.0.0.5]:2222"
    assert settings(keepalive_interval=0).dead_after == 0


def test_repr_keeps_key_data_and_passphrase_out() -> None:
    s = settings(key_passphrase="hunter2-passphrase")
    assert "secret-key-body" not in repr(s)
    assert "hunter2" not in repr(s)
    assert "host='10.0.0.5'" in repr(s)


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"port": 0}, "port 0"),
        ({"key_data": None}, "no key source"),
        ({"key_file": Path("/k")}, "key_file and key_data are both set"),
        ({"host_key": None}, "no pinned host key"),
        ({"keepalive_interval": -1}, "keepalive_interval must be >= 0"),
        ({"keepalive_count_max": 0}, "keepalive_count_max must be at least 1"),
        ({"connect_timeout": 0}, "connect_timeout must be > 0"),
        ({"max_channels": 10}, "max_channels must be 1..9"),
    ],
)
def test_bad_settings_are_refused_with_the_problem(overrides: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match="link settings for 'vm1'") as caught:
        settings(**overrides)
    assert problem in str(caught.value)


def test_keepalive_off_needs_no_count() -> None:
    assert settings(keepalive_interval=0, keepalive_count_max=0).dead_after == 0


def test_a_target_s_link_settings_carry_key_data_and_tuning(tmp_path: Path) -> None:
    target = TargetConfig.model_validate(
        {
            "name": "vm1",
            "host": "10.0.0.5",
            "port": 2222,
            "key_env": "DEPLOY_KEY",
            "key_passphrase_env": "DEPLOY_KEY_PASS",
            "host_key": HOST_KEY,
            "keepalive_interval": "5s",
            "keepalive_count_max": 3,
            "max_channels": 4,
        },
    ).with_secrets(SecretStr(KEY_TEXT), SecretStr("pass"))
    s = target.link_settings()
    assert (s.port, s.key_data, s.key_passphrase, s.host_key) == (2222, KEY_TEXT, "pass", HOST_KEY)
    assert (s.keepalive_interval, s.keepalive_count_max, s.max_channels) == (5.0, 3, 4)
    assert s.key_file is None and not s.use_agent


def test_error_messages_name_the_host_and_what_happened() -> None:
    down = LinkDown("vm1 (root@h:22)", "no answer to keepalive probes for 6.0 s")
    assert str(down) == "link to vm1 (root@h:22) is down: no answer to keepalive probes for 6.0 s"
    failed = CommandFailed("vm1", "docker compose up", 3, "boom")
    assert str(failed) == "`docker compose up` on vm1 exited with 3; stderr ends with:\nboom"
    assert "killed by a signal; no stderr" in str(CommandFailed("vm1", "x", -1, ""))
    timeout = CommandTimeout("vm1", "sleep 9", 1.5, killed=False)
    assert "past its 1.5 s timeout; could not confirm it was killed" in str(timeout)
    rejected = HostKeyRejected("vm1", "h:22", "ssh-ed25519", "SHA256:abc", "unknown", "pin it")
    assert "offered ssh-ed25519 SHA256:abc. Fix: pin it" in str(rejected)


def test_pool_hands_out_one_link_per_name_and_replaces_changed_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Link, "connect", lambda self: None)
    pool = LinkPool()
    pool.register(settings())
    first = pool.get("vm1")
    pool.register(settings())
    assert pool.get("vm1") is first
    pool.register(settings(port=2222))
    replaced = pool.get("vm1")
    assert replaced is not first
    assert replaced.settings.port == 2222
    pool.register(settings(name="vm2"))
    assert pool.names() == ["vm1", "vm2"]
    with pytest.raises(KeyError, match=r"no target 'vm3' is registered.*known: vm1, vm2"):
        pool.get("vm3")
    pool.close_all()
    assert pool.names() == []
