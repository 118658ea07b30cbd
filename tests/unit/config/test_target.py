"""The `targets` section: host keys, known_hosts names, targets loaded alone, work pools."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from dockyard.config import ConfigError, load_targets
from tests.unit.configkit import (
    full_config,
    load,
    problems_of,
    set_path,
    write,
)


def test_duplicate_target_names(project: Path) -> None:
    data = full_config()
    data["targets"].append(copy.deepcopy(data["targets"][0]))
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == ["targets[1].name"]
    assert "'vm1' is used twice" in str(error) and "its own name" in str(error)


def test_host_key_line_is_accepted(project: Path, keypair: tuple[str, str]) -> None:
    data = full_config()
    del data["targets"][0]["known_hosts"]
    data["targets"][0]["host_key"] = keypair[1] + " comment"
    assert load(project, data).targets[0].host_key == keypair[1] + " comment"


def test_known_hosts_on_default_port(project: Path, keypair: tuple[str, str]) -> None:
    (project / "known_hosts").write_text(f"vm.example {keypair[1]}\n")
    data = full_config()
    data["targets"][0].update(host="vm.example", port=22)
    assert load(project, data).targets[0].known_hosts_name == "vm.example"


def test_load_targets_ignores_other_sections(project: Path) -> None:
    data = full_config()
    data["stacks"][0]["env"]["APP_IMAGE"] = "${NOT_GIVEN}"
    data["stacks"][0]["bundle"] = "./missing"
    targets = load_targets(write(project, data), environ={})
    assert [t.name for t in targets] == ["vm1"]
    data["targets"][0]["port"] = "${SSH_PORT}"
    assert load_targets(write(project, data), {"SSH_PORT": "2222"}, environ={})[0].port == 2222
    del data["targets"][0]["known_hosts"]
    with pytest.raises(ConfigError, match="no host key pinned") as info:
        load_targets(write(project, data), {"SSH_PORT": "2222"}, environ={})
    assert [p.field for p in info.value.problems] == ["targets[0].known_hosts"]


def test_a_target_names_its_work_pool_or_none(project: Path) -> None:
    data = full_config()
    assert load(project, data).targets[0].pool is None
    set_path(data, "targets.0.pool", "dc-east")
    assert load(project, data).targets[0].pool == "dc-east"
