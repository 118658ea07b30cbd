"""Release ids key their secrets' part with the installation's release key: without it a
release id says nothing about a short secret; with it the id is stable and follows rotation."""

from __future__ import annotations

import hashlib
import stat
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from dockyard import session
from dockyard.config import ConfigError, SecretSourceError
from dockyard.host.identity import RELEASE_KEY, config_hash, release_key
from dockyard.session import DeployRequest
from tests.unit.configkit import (
    ENVIRON,
    VARIABLES,
    full_config,
    load,
    make_project,
    new_keypair,
    write,
)

KEY_A = b"a" * 32
KEY_B = b"b" * 32


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path, new_keypair())


def _hash(project: Path, key: bytes, password: str) -> str:
    config = load(project, full_config(), environ={**ENVIRON, "DB_PASSWORD": password})
    return config_hash(config, lambda: key)


def test_the_same_key_and_secrets_give_the_same_release(project: Path) -> None:
    assert _hash(project, KEY_A, "1234-Secret") == _hash(project, KEY_A, "1234-Secret")


def test_a_rotated_secret_gives_a_new_release(project: Path) -> None:
    assert _hash(project, KEY_A, "1234-Secret") != _hash(project, KEY_A, "1235-Secret")


def test_without_the_key_a_short_secret_cannot_be_recovered_from_the_release(
    project: Path,
) -> None:
    """The offline attack of issue 20: try every 6-digit password (the shortest a config
    accepts) against a seen hash. With the old fixed salt the attacker could compute each
    candidate's hash; under an unknown key no candidate (the right one included) reproduces
    it."""
    seen = _hash(project, KEY_A, "471100")
    guesses = {_hash(project, KEY_B, f"{n:06d}") for n in (471099, 471100, 471101)}
    assert seen not in guesses
    assert _hash(project, KEY_A, "471100") == seen


def test_a_config_without_secrets_never_asks_for_the_key(project: Path) -> None:
    data = full_config()
    data["stacks"][0]["env"] = {k: v for k, v in data["stacks"][0]["env"].items()
                                if "secret:" not in str(v)}  # fmt: skip
    config = load(project, data)

    def no_key() -> bytes:
        raise AssertionError("the key was asked for")

    assert len(config_hash(config, no_key)) == 64


NO_SSH_KEY = SimpleNamespace(targets=[])  # an agent-only config: no key material to derive from


def test_without_a_set_key_it_derives_from_the_ssh_key_every_deployer_holds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(RELEASE_KEY, raising=False)
    (tmp_path / "p").mkdir()
    project = make_project(tmp_path / "p", new_keypair())
    config = load(project, full_config())
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "runner-a"))
    first = release_key(config)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "runner-b"))
    assert release_key(config) == first  # a fresh CI runner computes the same release id
    assert not (tmp_path / "runner-a").exists() and not (tmp_path / "runner-b").exists()
    key_path = config.targets[0].key_file
    assert key_path is not None and key_path.read_bytes() not in first


def test_the_key_comes_from_the_environment_then_the_secret_source(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv(RELEASE_KEY, "e" * 40)
    assert release_key(NO_SSH_KEY) == b"e" * 40
    monkeypatch.delenv(RELEASE_KEY)

    class Blocks:
        def __call__(self, name: str) -> str | None:
            return "p" * 40 if name == RELEASE_KEY else None

        def where(self, name: str) -> str:
            return "a Prefect Secret block"

    assert release_key(NO_SSH_KEY, Blocks()) == b"p" * 40
    assert not (tmp_path / "dockyard").exists()


def test_a_short_key_is_refused_naming_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RELEASE_KEY, "short")
    with pytest.raises(SecretSourceError, match="needs at least 32") as info:
        release_key(NO_SSH_KEY)
    assert "openssl rand -hex 32" in info.value.fix and "short" not in str(info.value)


def test_a_local_key_is_made_once_private_and_shared_by_racing_deployers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(RELEASE_KEY, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    keys: list[bytes] = []
    racers = [
        threading.Thread(target=lambda: keys.append(release_key(NO_SSH_KEY))) for _ in range(8)
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    path = tmp_path / "dockyard" / "release.key"
    assert len(set(keys)) == 1 and len(keys[0]) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["release.key"]
    assert release_key(NO_SSH_KEY) == keys[0] != hashlib.sha256(b"").hexdigest().encode()


def test_a_release_key_source_that_cannot_answer_is_a_config_problem_naming_it(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RELEASE_KEY, raising=False)
    for name, value in ENVIRON.items():
        monkeypatch.setenv(name, value)

    class Down:
        def __call__(self, name: str) -> str | None:
            raise SecretSourceError(f"cannot read a Prefect Secret block named {name!r}: "
                                    "ConnectError", "check PREFECT_API_URL")  # fmt: skip

        def where(self, name: str) -> str:
            return "a Prefect Secret block"

    session.set_secret_lookup(Down())
    try:
        with pytest.raises(ConfigError) as info:
            session.load(DeployRequest(str(write(project, full_config())), dict(VARIABLES)))
    finally:
        session.set_secret_lookup(None)
    text = str(info.value)
    assert f"{RELEASE_KEY}: cannot read a Prefect Secret block" in text
    assert "fix: check PREFECT_API_URL" in text and "Traceback" not in text
