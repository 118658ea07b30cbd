"""Private key files are refused when group or others may read them, as ssh refuses them."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from dockyard.ssh.errors import AuthFailed
from dockyard.ssh.keys import key_file_problem, load_key
from dockyard.ssh.settings import LinkSettings


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    private = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path = tmp_path / "deploy_key"
    path.write_bytes(private)
    return path


def _settings(path: Path) -> LinkSettings:
    return LinkSettings(name="vm1", host="10.0.0.5", key_file=path, host_key="ssh-ed25519 AAAA")


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_key_only_its_owner_may_read_is_loaded(key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    assert key_file_problem(key_file) is None
    assert isinstance(load_key(_settings(key_file)), paramiko.Ed25519Key)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o602])
def test_a_key_open_to_group_or_others_is_refused_with_the_fix(key_file: Path, mode: int) -> None:
    key_file.chmod(mode)
    with pytest.raises(AuthFailed) as info:
        load_key(_settings(key_file))
    message = str(info.value)
    assert f"mode {mode:04o}" in message and str(key_file) in message
    assert f"Fix: chmod 600 {key_file}" in message
    assert key_file.read_text() not in message
