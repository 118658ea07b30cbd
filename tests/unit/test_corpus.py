"""lint and validate over the corpus of real public compose stacks (tests/corpus/, SOURCES names
each file's repository, path and commit): each stack's findings equal its reviewed
expected.json, with no false positive, no miss and no traceback. No host is contacted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dockyard.config import ConfigError
from dockyard.lint.bundle import validate
from dockyard.lint.config import lint_config

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
STACKS = sorted(p.parent.name for p in CORPUS.glob("*/expected.json"))


def expected(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / name / "expected.json").read_text())


def deploy_yaml(tmp_path: Path, name: str) -> Path:
    """A minimal deploy.yaml for one corpus stack: one target (a 0600 key, a pinned host key)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    (tmp_path / "key").write_bytes(private)
    (tmp_path / "key").chmod(0o600)
    (tmp_path / "known_hosts").write_text(f"[127.0.0.1]:2222 {public.decode()}\n")
    stack = {
        "project": re.sub(r"[^a-z0-9_-]", "-", name.lower()),
        "bundle": str(CORPUS / name),
        "remote_dir": f"/srv/{name}",
        "compose_files": expected(name)["compose_files"],
    }
    config = {
        "targets": [{"name": "vm1", "host": "127.0.0.1", "port": 2222, "user": "root",
                     "key_file": "./key", "known_hosts": "./known_hosts"}],
        "stacks": [stack],
    }  # fmt: skip
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def relative(text: str, name: str) -> str:
    return text.replace(f"{CORPUS / name}/", "")


def test_the_corpus_has_at_least_20_stacks_each_named_in_sources() -> None:
    sources = (CORPUS / "SOURCES").read_text()
    assert len(STACKS) >= 20
    for name in STACKS:
        assert re.search(rf"^{re.escape(name)}/\S+\s+github\.com/\S+\s+\S.*\s[0-9a-f]{{40}}$",
                         sources, re.M), name  # fmt: skip


@pytest.mark.parametrize("name", STACKS)
def test_lint(tmp_path: Path, name: str) -> None:
    findings = lint_config(deploy_yaml(tmp_path, name), {}, environ={})
    assert [relative(str(f), name) for f in findings] == expected(name)["lint"]


@pytest.mark.parametrize("name", STACKS)
def test_validate(tmp_path: Path, name: str) -> None:
    try:
        validate(deploy_yaml(tmp_path, name), environ={})
        problems: list[str] = []
    except ConfigError as exc:
        problems = [relative(f"{p.field}: {p.message}; fix: {p.fix}", name) for p in exc.problems]
    assert problems == expected(name)["validate"]
