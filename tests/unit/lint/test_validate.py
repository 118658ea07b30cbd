"""`dockyard validate` on real-world inputs: one report of config and bundle problems, each with
its fix; `${VAR:?message}`, secrets/configs files and build contexts checked against the bundle
and the project's environment; key_file checked as ssh checks it; --set names checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from deployments.cli import main
from tests.unit.lint.kit import good_bundle, write
from tests.unit.lint.test_bundle_check import _config


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    return good_bundle(tmp_path)


def validate(config: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["validate", "-c", str(config), *args])


def assert_problems(result: Result, count: int, *named: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].endswith(f": {count} problem{'s' if count != 1 else ''}"), result.stderr
    assert result.stderr.count("      fix: ") == count, result.stderr
    for text in named:
        assert text in result.stderr, result.stderr


def with_stack(config: Path, **fields: object) -> Path:
    data = yaml.safe_load(config.read_text())
    data["stacks"][0].update(fields)
    config.write_text(yaml.safe_dump(data))
    return config


def test_required_variable_unset_fails_naming_it_and_its_message(
    bundle: Path, tmp_path: Path
) -> None:
    (bundle / "parts/db.yml").write_text(
        "services:\n  db:\n    image: postgres:16\n"
        "    environment: {POSTGRES_PASSWORD: '${DB_PASSWORD:?set DB_PASSWORD in .env}'}\n"
    )
    config = _config(tmp_path, bundle, [])
    assert_problems(
        validate(config), 1, "${DB_PASSWORD} is not set: set DB_PASSWORD in .env",
        "fix: set DB_PASSWORD in stacks[].env or the bundle's .env",
    )  # fmt: skip
    (bundle / ".env").write_text("DB_PASSWORD=from-the-bundle\n")
    assert validate(config).exit_code == 0
    (bundle / ".env").write_text("DB_PASSWORD=\n")
    assert validate(config).exit_code == 2
    with_stack(config, env={"DB_PASSWORD": "from-the-stack"})
    assert validate(config).exit_code == 0, validate(config).output


def test_secrets_configs_and_build_contexts_must_be_in_the_bundle(
    bundle: Path, tmp_path: Path
) -> None:
    (bundle / "parts/db.yml").write_text(
        "services:\n"
        "  db: {image: 'postgres:16'}\n"
        "  api: {build: ./api, image: 'shop/api:1'}\n"
        "  web: {build: {context: web, dockerfile: Dockerfile}}\n"
        "  remote: {build: 'https://github.com/docker/buildx.git'}\n"
        "secrets:\n  db_password: {file: ./secrets/db_password.txt}\n  ext: {external: true}\n"
        "configs:\n  nginx: {file: nginx.conf}\n"
    )
    config = _config(tmp_path, bundle, [])
    parts = f"{bundle}/parts/db.yml"
    assert_problems(
        validate(config), 4,
        f"{parts}:3: service api: build context ./api: no such directory",
        f"{parts}:4: service web: build context web: no such directory",
        f"{parts}:7: secrets.db_password.file ./secrets/db_password.txt: no such file",
        f"{parts}:10: configs.nginx.file nginx.conf: no such file",
    )  # fmt: skip
    write(
        bundle / "parts", {"secrets/db_password.txt": "x", "nginx.conf": "", "api/Dockerfile": ""}
    )
    (bundle / "parts/web").mkdir()
    assert validate(config).exit_code == 0, validate(config).output


def test_config_and_bundle_problems_in_one_report(bundle: Path, tmp_path: Path) -> None:
    (bundle / "common.yml").unlink()
    config = with_stack(_config(tmp_path, bundle, []), remote_dir="relative/dir")
    assert_problems(
        validate(config), 2, "stacks[0].remote_dir: bad remote_dir 'relative/dir'",
        "stacks[0].compose_files[0]:", "extends.file common.yml: no such file",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "content", "named"),
    [
        (0o644, None, ["has mode 0644: others can read it, so ssh refuses it", "fix: chmod 600"]),
        (0o000, None, ["has mode 0000: nobody can read it", "fix: chmod 600"]),
        (0o600, b"not a key\n", ["cannot decrypt or parse key_file", "as a private key"]),
    ],
)
def test_key_file_is_checked_as_ssh_checks_it(
    bundle: Path, tmp_path: Path, mode: int, content: bytes | None, named: list[str]
) -> None:
    config = _config(tmp_path, bundle, [])
    key = tmp_path / "key"
    assert validate(config).exit_code == 0
    if content is not None:
        key.write_bytes(content)
    key.chmod(mode)
    assert_problems(validate(config), 1, "targets[0].key_file:", *named)
    key.chmod(0o400)
    if content is None:
        assert validate(config).exit_code == 0


def test_set_of_an_unused_or_invalid_name_is_refused(bundle: Path, tmp_path: Path) -> None:
    (bundle / "docker-compose.yml").write_text(
        "services:\n  web: {image: '${APP_IMAGE:-shop/web:1}'}\n"
    )
    config = with_stack(_config(tmp_path, bundle, []), env={"APP_IMAGE": "${APP_IMAGE:-x:1}"})
    assert validate(config, "--set", "APP_IMAGE=shop/web:2").exit_code == 0
    assert_problems(
        validate(config, "--set", "APP_IMGE=shop/web:2"), 1,
        "--set APP_IMGE: no ${APP_IMGE} in the config", "fix: did you mean --set APP_IMAGE=...?",
    )  # fmt: skip
    refused = validate(config, "--set", "A B=1")
    assert refused.exit_code == 2 and "'A B=1' is not NAME=VALUE" in refused.stderr


def test_load_refuses_a_set_name_that_is_not_a_variable_name(bundle: Path, tmp_path: Path) -> None:
    from dockyard.config import ConfigError, load_config

    config = _config(tmp_path, bundle, [])
    with pytest.raises(ConfigError, match="'A B' is not a variable name"):
        load_config(config, {"A B": "1"})


def test_validate_refuses_each_unsafe_start_first_service(bundle: Path, tmp_path: Path) -> None:
    write(bundle, {"zd.yml": (
        "services:\n"
        "  web:\n    ports: ['${WEB_PORT:-18080}:8080']\n"
        "  api:\n    image: api:1\n    container_name: shop-api\n"
        "  seed:\n    image: seed:1\n"
        "  app:\n    image: app:1\n    ports: ['8080', '18090-18091:9000']\n"
        "    depends_on: {seed: {condition: service_completed_successfully}}\n"
        "  once:\n    image: once:1\n"
    )})  # fmt: skip
    config = _config(tmp_path, bundle, [])
    with_stack(config, compose_files=["docker-compose.yml", "zd.yml"],
               jobs=[{"name": "once", "service": "once"}],
               up={"start_first": ["web", "api", "seed", "app", "once"]})  # fmt: skip
    result = validate(config)
    assert_problems(
        result, 4,
        "stacks[0].up.start_first[0]: service web publishes fixed host port 18080",
        "stacks[0].up.start_first[1]: service api has container_name 'shop-api'",
        "stacks[0].up.start_first[2]: service seed is a dependency other services wait on",
        "stacks[0].up.start_first[4]: service once is a job service",
    )  # fmt: skip
    assert "start_first[3]" not in result.stderr


def test_validate_accepts_a_start_first_service_with_container_only_ports(
    bundle: Path, tmp_path: Path
) -> None:
    write(bundle, {"zd.yml": "services:\n  app:\n    image: app:1\n    ports: ['8080']\n"})
    config = _config(tmp_path, bundle, [])
    with_stack(config, compose_files=["docker-compose.yml", "zd.yml"],
               up={"start_first": ["app"], "drain": "2s"})  # fmt: skip
    result = validate(config)
    assert result.exit_code == 0, result.output
