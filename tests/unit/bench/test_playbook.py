"""The Ansible contender's command: the password only in a 0600 vars file that is gone after
the run, never on the command line; the playbook and its SSH settings from bench/ansible."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bench import playbook
from bench.commands import Completed
from bench.workspace import Workspace


def test_the_password_goes_in_a_0600_vars_file_removed_after_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab: Any = SimpleNamespace(key_file=tmp_path / "id_ed25519")
    ws = Workspace(tmp_path, lab, "s3cret-pw")
    seen: dict[str, Any] = {}

    def fake_run(argv: list[str], timeout: float, env: dict[str, str]) -> Completed:
        variables = Path(argv[argv.index("-e") + 1].removeprefix("@"))
        seen.update(argv=argv, env=env, mode=stat.S_IMODE(variables.stat().st_mode),
                    values=json.loads(variables.read_text()), path=variables)  # fmt: skip
        return Completed(tuple(argv), 0, "", "", 1.0)

    monkeypatch.setattr(playbook, "run", fake_run)
    outcome = playbook.AnsibleContender(ws).deploy("v2")
    assert outcome.done.ok
    assert not any("s3cret-pw" in arg for arg in seen["argv"])
    assert seen["mode"] == 0o600 and not seen["path"].exists()
    assert seen["values"]["db_password"] == "s3cret-pw"
    assert seen["values"]["app_image"].endswith("/dockyard/app:v2")
    assert seen["argv"][-1] == str(playbook.PLAYBOOK_DIR / "deploy.yml")
    assert seen["env"]["ANSIBLE_CONFIG"] == str(playbook.PLAYBOOK_DIR / "ansible.cfg")
