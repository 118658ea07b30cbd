"""`dockyard diff`'s exit codes and output (the host read replaced: pure CLI logic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from deployments.cli import main
from dockyard.diff import read
from dockyard.diff.compare import EnvChange, ServiceChange, StackDiff
from tests.unit.configkit import (
    ENVIRON,
    SECRET,
    VARIABLES,
    full_config,
    make_project,
    new_keypair,
    write,
)

SAME = StackDiff("h", "shop", "r-1", "r-1", (ServiceChange("app", "unchanged"),), (), (), ())
CHANGED = StackDiff("h", "shop", "r-1", "r-2", (ServiceChange("app", "recreate", keys=("ports",)),),
                    (EnvChange("DB_PASSWORD", "~", True),), (), ("migrate",))  # fmt: skip


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write(make_project(tmp_path, new_keypair()), full_config())


def run(config: Path, *args: str) -> tuple[int, str]:
    argv = ["diff", "-c", str(config), *args]
    for key, value in VARIABLES.items():
        argv += ["--set", f"{key}={value}"]
    result = CliRunner().invoke(main, argv, env=ENVIRON, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("found", "flags", "code"),
    [(SAME, (), 0), (SAME, ("--detailed-exitcode",), 0), (CHANGED, (), 0),
     (CHANGED, ("--detailed-exitcode",), 1)],
)  # fmt: skip
def test_exit_codes(
    config: Path, monkeypatch: pytest.MonkeyPatch, found: StackDiff, flags: tuple[str, ...],
    code: int,
) -> None:  # fmt: skip
    monkeypatch.setattr(read, "stack_diff", lambda hs, deadline: found)
    got, out = run(config, *flags)
    assert got == code, out
    assert ("no changes" in out) == (found is SAME)


def test_json_and_secret_masked(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(read, "stack_diff", lambda hs, deadline: CHANGED)
    code, out = run(config, "--json")
    assert code == 0
    docs = json.loads(out)
    assert docs and all(d["changed"] and d["jobs"] == ["migrate"] for d in docs)
    assert docs[0]["env"] == [{"key": "DB_PASSWORD", "op": "~", "secret": True, "old": None,
                               "new": None}]  # fmt: skip
    assert SECRET not in out


def test_bad_input_exits_2(config: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def rejected(hs: object, deadline: object) -> StackDiff:
        raise read.DiffInputError(f"vm1/shop: docker compose rejected the stack: {SECRET}")

    monkeypatch.setattr(read, "stack_diff", rejected)
    code, out = run(config)
    assert code == 2 and "compose rejected" in out and SECRET not in out
    code, out = run(write(tmp_path, {"targets": []}, "bad.yaml"))
    assert code == 2 and "Traceback" not in out
