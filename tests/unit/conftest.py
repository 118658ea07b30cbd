"""Fixtures shared by the unit tests: a key pair and a project directory with a full config's
files (tests/unit/configkit.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.configkit import make_project, new_keypair


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return new_keypair()


@pytest.fixture
def project(tmp_path: Path, keypair: tuple[str, str]) -> Path:
    return make_project(tmp_path, keypair)
