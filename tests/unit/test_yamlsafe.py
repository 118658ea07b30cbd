"""Safe YAML reading: alias bombs refused fast, duplicate keys, sizes, encodings, syntax lines."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dockyard import yamlsafe
from dockyard.yamlsafe import YamlProblem

BOMB = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_is_refused_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(YamlProblem, match="aliases"):
        yamlsafe.load(BOMB)
    assert time.monotonic() - started < 1.0


def test_ordinary_aliases_and_merge_keys_load() -> None:
    data = yamlsafe.load("base: &b {image: x}\nsvc:\n  <<: *b\n  ports: [1]\n")
    assert data["svc"] == {"image": "x", "ports": [1]}


def test_duplicate_key_names_key_and_line() -> None:
    with pytest.raises(YamlProblem) as info:
        yamlsafe.load("a: 1\nb: 2\na: 3\n")
    assert "duplicate key 'a'" in str(info.value) and info.value.line == 3


def test_syntax_error_has_a_line() -> None:
    with pytest.raises(YamlProblem) as info:
        yamlsafe.load("a:\n  - b\n c: [\n")
    assert "YAML syntax error" in str(info.value) and info.value.line


def test_read_text_refuses_large_and_non_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big.yml"
    big.write_bytes(b"a: 1\n" * 100)
    with pytest.raises(YamlProblem, match="over the 50 byte limit"):
        yamlsafe.read_text(big, "compose file", max_bytes=50)
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"a: \xe9\n")
    with pytest.raises(YamlProblem, match="not UTF-8"):
        yamlsafe.read_text(latin, "compose file")
    with pytest.raises(YamlProblem, match="cannot read the compose file"):
        yamlsafe.read_text(tmp_path / "missing.yml", "compose file")


def test_compose_reset_and_override_tags_read_as_their_values() -> None:
    text = "services:\n  web:\n    ports: !reset []\n    environment: !override {A: '1'}\n"
    assert yamlsafe.load(text) == {"services": {"web": {"ports": [], "environment": {"A": "1"}}}}
