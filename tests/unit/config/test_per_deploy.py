"""Commands that deploy nothing (releases, rollback, exec) load the config without the
per-deploy values a deploy is given with --set."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.config import UNSET_PER_DEPLOY, ConfigError, load_config, with_unset_per_deploy
from tests.unit.configkit import ENVIRON, VARIABLES, full_config, make_project, new_keypair, write


def test_unset_per_deploy_values_get_a_placeholder_that_loads(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    path = write(tmp_path, full_config())
    with pytest.raises(ConfigError):
        load_config(path, {}, ENVIRON)
    variables = with_unset_per_deploy(path, {"MIGRATOR_IMAGE": "r.local/mig:2"}, ENVIRON)
    assert variables == {"APP_IMAGE": UNSET_PER_DEPLOY, "MIGRATOR_IMAGE": "r.local/mig:2"}
    config = load_config(path, variables, ENVIRON)
    assert config.stacks[0].env["APP_IMAGE"] == UNSET_PER_DEPLOY
    assert with_unset_per_deploy(path, VARIABLES, ENVIRON) == VARIABLES


def test_a_variable_used_outside_stack_env_is_still_required(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0]["remote_dir"] = "/opt/${STAGE}/shop"
    data["stacks"][0]["env"]["STAGE"] = "${STAGE}"
    path = write(tmp_path, data)
    assert "STAGE" not in with_unset_per_deploy(path, VARIABLES, ENVIRON)
    with pytest.raises(ConfigError, match="variable STAGE is not set"):
        load_config(path, with_unset_per_deploy(path, VARIABLES, ENVIRON), ENVIRON)


def test_a_required_name_alone_gets_a_placeholder(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0]["required"] = ["APP_IMAGE", "RELEASE_NOTE"]
    path = write(tmp_path, data)
    assert with_unset_per_deploy(path, VARIABLES, ENVIRON)["RELEASE_NOTE"] == UNSET_PER_DEPLOY
