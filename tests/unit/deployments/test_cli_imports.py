"""The CLI's fast paths (help, validate, lint, a deploy with a bad config) never import Prefect."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

PROBE = """
import sys
from deployments.cli import main
try:
    main(sys.argv[1:], prog_name="dockyard")
except SystemExit as exc:
    code = exc.code
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"prefect", "flows", "docker"})
print("exit", code, "heavy", ",".join(heavy) or "-")
"""


def run_cli(*args: str) -> str:
    done = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture()
def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "deploy.yaml"
    path.write_text("targets: []\nstacks: []\n")
    return path


@pytest.mark.parametrize("args", [["--help"], ["deploy", "--help"], ["lab", "--help"]])
def test_help_imports_no_prefect(args: list[str]) -> None:
    assert run_cli(*args) == "exit 0 heavy -"


def test_validate_and_bad_deploy_import_no_prefect(bad_config: Path) -> None:
    assert run_cli("validate", "-c", str(bad_config)) == "exit 2 heavy -"
    assert run_cli("deploy", "-c", str(bad_config)) == "exit 2 heavy -"


def test_lint_imports_no_prefect(tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  app:\n    image: nginx:1.27\n")
    assert run_cli("lint", str(compose)).endswith("heavy -")
