"""The config's public values, and validate's warning about a secret whose value occurs in them."""

from __future__ import annotations

from pathlib import Path

from dockyard.config import load_config
from dockyard.config.public import public_values, secret_overlaps
from tests.unit.configkit import ENVIRON, VARIABLES, full_config, make_project, new_keypair, write


def _config(tmp_path: Path, password: str, edit: dict[str, str] | None = None) -> list[str]:
    make_project(tmp_path, new_keypair())
    data = full_config()
    data["stacks"][0].update(edit or {})
    config = load_config(write(tmp_path, data), VARIABLES, {**ENVIRON, "DB_PASSWORD": password})
    return secret_overlaps(config)


def test_a_secret_equal_to_the_project_name_is_named_without_its_value(tmp_path: Path) -> None:
    warnings = _config(tmp_path, "temporal", {"project": "temporal"})
    assert len(warnings) == 1
    assert "secret DB_PASSWORD also occurs in stacks[0].project" in warnings[0]
    assert "fix: give DB_PASSWORD a value of its own" in warnings[0]
    assert "temporal" not in warnings[0]


def test_a_secret_inside_an_image_ref_or_a_path_is_found(tmp_path: Path) -> None:
    warnings = _config(tmp_path, "registry.local", {"remote_dir": "/srv/registry.local/x"})
    assert "stacks[0].env.APP_IMAGE" in warnings[0] and "stacks[0].remote_dir" in warnings[0]


def test_a_secret_in_a_compose_file_is_found(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    data = full_config()
    config = load_config(write(tmp_path, data), VARIABLES,
                         {**ENVIRON, "DB_PASSWORD": "postgres"})  # fmt: skip
    compose = config.stacks[0].bundle / config.stacks[0].compose_files[0]
    assert "postgres" in compose.read_text()
    assert "stacks[0].compose_files[0]" in secret_overlaps(config)[0]


def test_a_secret_of_its_own_has_no_warning(tmp_path: Path) -> None:
    assert _config(tmp_path, "pw-Zx81-never-printed") == []


def test_the_literal_parts_of_compose_image_refs_are_public(tmp_path: Path) -> None:
    make_project(tmp_path, new_keypair())
    config = load_config(write(tmp_path, full_config()), VARIABLES, ENVIRON)
    compose = config.stacks[0].bundle / config.stacks[0].compose_files[0]
    compose.write_text(
        "services:\n  a:\n    image: ${REGISTRY:-r.local}/temporalio/auto-setup:${TV}\n"
        "  b:\n    image: 'postgres:16' # pinned later\n"
    )
    public = public_values(config)
    assert public["/temporalio/auto-setup:"] == "stacks[0].compose_files[0] (docker-compose.yml)"
    assert "postgres:16" in public and public[config.stacks[0].project] == "stacks[0].project"
