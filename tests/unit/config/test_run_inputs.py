"""What a run started through the Prefect API may set: the pinned config, only per-deploy images
from allowed registries, known hosts; never actor, resumes or parent_run_id (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.config import ConfigError, DeployConfig, load_config
from dockyard.config.run_inputs import (
    RunInputRefused,
    check_deployment_params,
    check_run_choices,
    check_run_names,
)
from tests.unit.configkit import ENVIRON, VARIABLES, full_config, make_project, new_keypair, write

PINNED = "/srv/dockyard/deploy.yaml"
SHOP = "dockyard-deploy/shop"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"), new_keypair())


def _config(project: Path, allowed: list[str] | None = None,
            variables: dict[str, str] = VARIABLES) -> DeployConfig:  # fmt: skip
    data: dict[str, Any] = full_config()
    if allowed is not None:
        data["images"]["allowed_registries"] = allowed
    return load_config(write(project, data), variables, environ=ENVIRON)


def test_a_run_of_a_deployment_keeps_its_config_path() -> None:
    check_deployment_params({"config_path": PINNED, "actor": None, "resumes": None}, PINNED, SHOP)
    for forged in ("/dev/zero", "/srv/staging/deploy.yaml", None):
        with pytest.raises(RunInputRefused, match="config_path of this run is not deployment "
                           "dockyard-deploy/shop's config") as info:  # fmt: skip
            check_deployment_params({"config_path": forged}, PINNED, SHOP)
        assert "start the deployment of that config" in str(info.value)


def test_a_deployment_without_a_pinned_config_refuses_every_run() -> None:
    with pytest.raises(RunInputRefused, match="pins no config_path"):
        check_deployment_params({"config_path": PINNED}, None, SHOP)


@pytest.mark.parametrize("name, value", [
    ("actor", "alice"), ("resumes", ["6f1c..."]), ("parent_run_id", "b7e2..."),
])  # fmt: skip
def test_identity_and_takeovers_are_not_run_parameters(name: str, value: Any) -> None:
    with pytest.raises(RunInputRefused, match=f"{name} may not be set on a run of deployment "
                       "dockyard-deploy/shop") as info:  # fmt: skip
        check_deployment_params({"config_path": PINNED, name: value}, PINNED, SHOP)
    assert "records the deployment as the actor" in info.value.fix


def test_per_deploy_images_and_hosts_are_what_a_run_may_choose(project: Path) -> None:
    config = _config(project)
    check_run_choices(VARIABLES, ["vm1"], config)
    check_run_choices({}, None, config)
    with pytest.raises(RunInputRefused, match=r"variables DEPLOY_HOST, LOG_LEVEL are not "
                       r"per-deploy images of this config \(per-deploy: APP_IMAGE, "
                       r"MIGRATOR_IMAGE\)"):  # fmt: skip
        check_run_choices({**VARIABLES, "LOG_LEVEL": "debug", "DEPLOY_HOST": "x"}, None, config)
    with pytest.raises(RunInputRefused, match="hosts prod-db are not targets"):
        check_run_choices(VARIABLES, ["vm1", "prod-db"], config)


@pytest.mark.parametrize("value, reason", [
    ("Registry.local/App:1", "must be lowercase"),
    ("registry.local/app:1\nprivileged: true", "not valid"),
    ("", "empty reference"),
    (7, "is not a string"),
])  # fmt: skip
def test_each_per_deploy_value_must_be_an_image_reference(
    project: Path, value: Any, reason: str
) -> None:
    with pytest.raises(RunInputRefused, match=f"variable APP_IMAGE.*{reason}") as info:
        check_run_choices({"APP_IMAGE": value}, None, _config(project))
    assert "APP_IMAGE=registry/app:tag" in info.value.fix


def test_allowed_registries_bound_per_deploy_images_by_host_or_repository_prefix(
    project: Path,
) -> None:
    config = _config(project, ["registry.local/app", "registry.local/mig", "ghcr.io"])
    check_run_choices({"APP_IMAGE": "registry.local/app:v9", "MIGRATOR_IMAGE": "ghcr.io/x/m:1"},
                      None, config)  # fmt: skip
    for value in ("evil.example/app:v9", "registry.local/apple:v9", "registry.local:5000/app:1",
                  "busybox"):  # fmt: skip
        with pytest.raises(RunInputRefused, match=r"is not from images\.allowed_registries"):
            check_run_choices({"APP_IMAGE": value}, None, config)


def test_the_config_itself_refuses_a_per_deploy_image_from_another_registry(
    project: Path,
) -> None:
    with pytest.raises(ConfigError) as info:
        _config(project, ["ghcr.io/shop"])
    text = str(info.value)
    assert "per-deploy image APP_IMAGE (registry.local/app:abc123) is not from " in text
    assert "images.allowed_registries (ghcr.io/shop)" in text


@pytest.mark.parametrize("entry", ["https://ghcr.io", "ghcr.io/", "", "a b"])
def test_allowed_registries_entries_are_bare_hosts_or_prefixes(project: Path, entry: str) -> None:
    with pytest.raises(ConfigError, match="bad allowed registry"):
        _config(project, [entry])


def test_names_outside_the_per_deploy_ones_are_refused_by_name() -> None:
    check_run_names({"APP_IMAGE": "x"}, ["APP_IMAGE", "MIGRATOR_IMAGE"])
    with pytest.raises(RunInputRefused, match="variables LAB_REGISTRY_PASSWORD are not per-deploy"):
        check_run_names({"APP_IMAGE": "x", "LAB_REGISTRY_PASSWORD": "y"}, ["APP_IMAGE"])
