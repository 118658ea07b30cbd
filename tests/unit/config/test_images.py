"""The `images` section: per-deploy images, their defaults and overrides."""

from __future__ import annotations

from pathlib import Path

from tests.unit.configkit import (
    VARIABLES,
    full_config,
    load,
    problems_of,
)


def test_per_deploy_default_and_override(project: Path) -> None:
    data = full_config()
    data["stacks"][0]["env"]["CACHE_IMAGE"] = "${CACHE:-redis:7}"
    data["stacks"][0]["env"]["SECRET_IMAGE"] = "${secret:DB_PASSWORD}"
    assert load(project, data).images.per_deploy == ["APP_IMAGE", "MIGRATOR_IMAGE", "CACHE_IMAGE"]
    data["images"]["per_deploy"] = ["APP_IMAGE"]
    assert [i.name for i in load(project, data).per_deploy_images()] == ["APP_IMAGE"]


def test_empty_per_deploy_image_is_rejected(project: Path) -> None:
    error = problems_of(project, full_config(), variables={**VARIABLES, "APP_IMAGE": ""})
    assert [p.field for p in error.problems] == ["stacks[0].env.APP_IMAGE"]
    assert "--set APP_IMAGE=registry/app:tag" in str(error)
