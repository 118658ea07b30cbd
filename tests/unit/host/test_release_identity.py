"""The release identity: config_hash is stable (paths, tuning, processes) and changes with
what is deployed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from dockyard.config import DeployConfig, load_config
from dockyard.host.identity import config_hash
from tests.unit.configkit import (
    ENVIRON,
    SECRET,
    VARIABLES,
    full_config,
    load,
    write,
)

RELEASE_KEY = b"k" * 32


def config_hash_of(config: DeployConfig) -> str:
    return config_hash(config, lambda: RELEASE_KEY)


def test_config_hash_stable_and_sensitive(project: Path) -> None:
    base = config_hash_of(load(project, full_config()))
    assert config_hash_of(load(project, full_config())) == base
    assert len(base) == 64

    moved = project / "moved"
    shutil.copytree(project, moved, ignore=shutil.ignore_patterns("moved"))
    data = full_config()
    data["targets"][0]["keepalive_interval"] = 30
    data["steps"]["pull"]["retries"] = 1
    assert config_hash_of(load(moved, data)) == base

    changed_variable = {**VARIABLES, "APP_IMAGE": "registry.local/app:def456"}
    assert config_hash_of(load(project, full_config(), variables=changed_variable)) != base
    changed_secret = {**ENVIRON, "DB_PASSWORD": SECRET + "x"}
    assert config_hash_of(load(project, full_config(), environ=changed_secret)) != base

    (project / "stack" / "conf" / "nginx.conf").write_text("worker_processes 2;\n")
    after_edit = config_hash_of(load(project, full_config()))
    assert after_edit != base
    (project / "stack" / "conf" / "extra.conf").write_text("")
    assert config_hash_of(load(project, full_config())) not in (base, after_edit)


def test_config_hash_stable_across_processes(project: Path) -> None:
    path = write(project, full_config())
    script = (
        "import sys; from dockyard.config import load_config; "
        "from dockyard.host.identity import config_hash; "
        f"print(config_hash(load_config(sys.argv[1], {VARIABLES!r}, {ENVIRON!r}),"
        f" lambda: {RELEASE_KEY!r}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == config_hash_of(load_config(path, VARIABLES, ENVIRON))
