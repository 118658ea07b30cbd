"""lint and validate over the corpus of real public compose stacks (tests/corpus/, SOURCES names
each file's repository, path and commit): each stack's findings equal its reviewed
expected.json, with no false positive, no miss and no traceback. No host is contacted."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dockyard.config import ConfigError
from dockyard.lint.bundle import validate
from dockyard.lint.config import lint_config
from tests.unit.lint.kit import deploy_yaml

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
STACKS = sorted(p.parent.name for p in CORPUS.glob("*/expected.json"))


def expected(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / name / "expected.json").read_text())


def corpus_config(tmp_path: Path, name: str) -> Path:
    """A minimal deploy.yaml for one corpus stack."""
    stack = {
        "project": re.sub(r"[^a-z0-9_-]", "-", name.lower()),
        "bundle": str(CORPUS / name),
        "remote_dir": f"/srv/{name}",
        "compose_files": expected(name)["compose_files"],
    }
    return deploy_yaml(tmp_path, stack)


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
    findings = lint_config(corpus_config(tmp_path, name), {}, environ={})
    assert [relative(str(f), name) for f in findings] == expected(name)["lint"]


@pytest.mark.parametrize("name", STACKS)
def test_validate(tmp_path: Path, name: str) -> None:
    try:
        validate(corpus_config(tmp_path, name), environ={})
        problems: list[str] = []
    except ConfigError as exc:
        problems = [relative(f"{p.field}: {p.message}; fix: {p.fix}", name) for p in exc.problems]
    assert problems == expected(name)["validate"]
