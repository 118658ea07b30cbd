"""validate's bundle check on tmp_path bundles: compose parse errors, missing include/extends/
env_file targets, unknown services in the config, symlinks out of the bundle; and the CLI exit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from deployments.cli import main
from dockyard.config import StackConfig
from dockyard.lint.bundle import check_stack
from tests.unit.lint.kit import deploy_yaml, good_bundle


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return good_bundle(tmp_path)


def stack(bundle: Path, **fields: Any) -> StackConfig:
    data = {"project": "shop", "bundle": str(bundle), "remote_dir": "/srv/shop", **fields}
    return StackConfig.model_validate(data, context={"base_dir": bundle.parent, "environ": {}})


def texts(bundle: Path, **fields: Any) -> list[str]:
    return [str(p) for p in check_stack(stack(bundle, **fields), "stacks[0]")]


def test_a_good_bundle_has_no_problems(bundle: Path) -> None:
    jobs = [{"name": "m", "service": "db"}]
    assert texts(bundle, jobs=jobs, up={"stop_first": ["worker"]}) == []


def test_yaml_error_names_file_and_line(bundle: Path) -> None:
    (bundle / "parts/db.yml").write_text("services:\n  db:\n    image: [x\n")
    (problem,) = texts(bundle)
    assert problem.startswith(f"stacks[0].compose_files[0]: {bundle}/parts/db.yml:4: YAML syntax")


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("docker-compose.yml", "services:\n  web: {include: 1}\n  x: [1]\n", "service x is not"),
        ("docker-compose.yml", "", "the compose file is empty"),
        ("docker-compose.yml", "include: a.yml\n", "include is not a list"),
        ("docker-compose.yml", "services:\n  a:\n    image: {x: 1}\n", "image is not a string"),
        ("common.yml", "\udcff", "not UTF-8"),
    ],
)
def test_unreadable_compose_files(bundle: Path, name: str, text: str, expected: str) -> None:
    (bundle / name).write_bytes(text.encode("utf-8", "surrogateescape"))
    problems = texts(bundle, jobs=[{"name": "m", "service": "nowhere"}])
    assert any(expected in p for p in problems), problems
    # a service list that could not be read is not checked; an extends base does not hide it
    assert any("'nowhere'" in p for p in problems) == (name == "common.yml")


def test_missing_include_extends_and_env_file_targets(bundle: Path) -> None:
    for name in ("parts/db.yml", "common.yml", "conf/web.env"):
        (bundle / name).unlink()
    problems = texts(bundle)
    compose = f"{bundle}/docker-compose.yml"
    assert problems == [
        f"stacks[0].compose_files[0]: {compose}:2: include parts/db.yml: no such file; create it"
        " in the bundle or fix the path (relative to the file that names it)",
        f"stacks[0].compose_files[0]: {compose}:6: service web: env_file conf/web.env: no such"
        " file; create it in the bundle or fix the path (relative to the file that names it)",
        f"stacks[0].compose_files[0]: {compose}:8: service worker: extends.file common.yml: no"
        " such file; create it in the bundle or fix the path (relative to the file that names it)",
    ]


def test_targets_outside_the_bundle(bundle: Path) -> None:
    (bundle.parent / "shared.yml").write_text("services:\n  base: {image: a:1}\n")
    (bundle / "docker-compose.yml").write_text(
        "services:\n  w:\n    extends: {file: ../shared.yml, service: base}\n"
    )
    (problem,) = texts(bundle)
    assert "extends.file ../shared.yml: outside the bundle" in problem


def test_extends_of_an_unknown_service_and_a_loop(bundle: Path) -> None:
    (bundle / "common.yml").write_text("services:\n  other: {image: a:1}\n")
    (bundle / "parts/db.yml").write_text(
        "services:\n  a: {extends: b}\n  b: {extends: {service: a}}\n"
    )
    problems = texts(bundle)
    assert any("extends base, which common.yml does not define" in p for p in problems)
    assert any("service a: extends loops back to itself" in p for p in problems)


def test_unknown_services_name_the_field(bundle: Path) -> None:
    problems = texts(
        bundle,
        jobs=[{"name": "m", "service": "migrator"}],
        up={"stop_first": ["db", "autoheal"]},
        restarts=[{"service": "nginx", "files": ["conf/web.env"]}],
        health={"hooks": [{"name": "h", "service": "cron", "command": ["true"]}]},
    )
    known = "use one of: db, web, worker"
    assert problems == [
        f"stacks[0].jobs[0].service: service 'migrator' is not in the compose files; {known}",
        f"stacks[0].up.stop_first[1]: service 'autoheal' is not in the compose files; {known}",
        f"stacks[0].restarts[0].service: service 'nginx' is not in the compose files; {known}",
        f"stacks[0].health.hooks[0].service: service 'cron' is not in the compose files; {known}",
    ]


def _config(tmp_path: Path, bundle: Path, jobs: list[dict[str, str]]) -> Path:
    stack = {"project": "shop", "bundle": bundle.name, "remote_dir": "/srv/shop", "jobs": jobs}
    return deploy_yaml(tmp_path, stack)


def test_validate_exits_2_listing_bundle_problems(bundle: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, bundle, [{"name": "m", "service": "migrator"}])
    (bundle / "common.yml").unlink()
    result = CliRunner().invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[0] == f"{config}: 2 problems"
    assert result.stderr.count("      fix: ") == 2
    assert "extends.file common.yml: no such file" in result.stderr
    assert "stacks[0].jobs[0].service: service 'migrator'" in result.stderr


def test_validate_passes_a_good_bundle(bundle: Path, tmp_path: Path) -> None:
    config = _config(tmp_path, bundle, [{"name": "m", "service": "db"}])
    result = CliRunner().invoke(main, ["validate", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "ok; targets vm1" in result.output
