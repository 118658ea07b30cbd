"""Pure tests of the compose command builders: argv order, flags, and the image override file."""

from __future__ import annotations

import yaml

from dockyard.commands.compose import ComposeProject, image_override

SHOP = ComposeProject(
    "shop", "/opt/shop", files=("docker-compose.yml", "prod.yml"), profiles=("web", "ops")
)
BASE = [
    "docker", "compose", "--project-name", "shop", "--project-directory", "/opt/shop",
    "--file", "/opt/shop/docker-compose.yml", "--file", "/opt/shop/prod.yml",
    "--profile", "web", "--profile", "ops",
]  # fmt: skip


def after_base(argv: list[str]) -> list[str]:
    assert argv[: len(BASE)] == BASE
    return argv[len(BASE) :]


class TestBase:
    def test_project_directory_files_then_profiles_in_order(self) -> None:
        assert SHOP.base() == BASE

    def test_defaults_are_one_compose_file_and_no_profile(self) -> None:
        argv = ComposeProject("shop", "/opt/shop").base()
        assert argv[-2:] == ["--file", "/opt/shop/docker-compose.yml"]
        assert "--profile" not in argv

    def test_extra_files_follow_the_stack_files(self) -> None:
        argv = SHOP.base(extra_files=[SHOP.state.override])
        files = [argv[i + 1] for i, a in enumerate(argv) if a == "--file"]
        assert files == [
            "/opt/shop/docker-compose.yml",
            "/opt/shop/prod.yml",
            "/opt/shop/.dockyard/images.override.yml",
        ]

    def test_profiles_argument_replaces_the_stack_profiles(self) -> None:
        argv = SHOP.base(profiles=["*"])
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "--profile"] == ["*"]
        assert SHOP.base(profiles=[])[-1] == "/opt/shop/prod.yml"

    def test_state_dir_is_under_the_remote_dir(self) -> None:
        assert SHOP.state.root == "/opt/shop/.dockyard"


class TestCommands:
    def test_config_json(self) -> None:
        assert after_base(SHOP.config_json()) == ["config", "--format", "json"]

    def test_up_never_pulls_and_waits_with_a_whole_second_timeout(self) -> None:
        rest = after_base(SHOP.up(wait_timeout=120.7))
        assert rest == [
            "up", "--detach", "--pull", "never", "--wait", "--wait-timeout", "120",
            "--remove-orphans",
        ]  # fmt: skip

    def test_up_without_remove_orphans_and_with_services_last(self) -> None:
        rest = after_base(SHOP.up(wait_timeout=30, remove_orphans=False, services=["api", "db"]))
        assert "--remove-orphans" not in rest
        assert rest[-2:] == ["api", "db"]

    def test_up_with_override_file_puts_it_before_the_subcommand(self) -> None:
        argv = SHOP.up(wait_timeout=30, extra_files=[SHOP.state.override])
        assert argv.index("/opt/shop/.dockyard/images.override.yml") < argv.index("up")

    def test_run_job_removes_container_never_pulls_and_has_no_tty(self) -> None:
        rest = after_base(SHOP.run_job("migrator", ["migrate", "--to", "head"]))
        assert rest == [
            "run", "--rm", "--pull", "never", "--no-TTY", "migrator", "migrate", "--to", "head",
        ]  # fmt: skip

    def test_up_wait_starts_one_service_and_keeps_orphans(self) -> None:
        rest = after_base(SHOP.up_wait("postgres", wait_timeout=90))
        assert rest[:7] == ["up", "--detach", "--pull", "never", "--wait", "--wait-timeout", "90"]
        assert "--remove-orphans" not in rest
        assert rest[-1] == "postgres"

    def test_stop_restart_ps_logs(self) -> None:
        assert after_base(SHOP.stop(["autoheal"])) == ["stop", "--timeout", "10", "autoheal"]
        assert after_base(SHOP.restart(["proxy"], timeout=3)) == [
            "restart", "--timeout", "3", "proxy",
        ]  # fmt: skip
        assert after_base(SHOP.ps_json()) == ["ps", "--all", "--format", "json"]
        assert after_base(SHOP.logs(["api"], tail=20)) == [
            "logs", "--no-color", "--tail", "20", "api",
        ]  # fmt: skip


class TestImageOverride:
    def test_parses_back_to_the_mapping(self) -> None:
        images = {
            "worker": "127.0.0.1:5000/dockyard/worker@sha256:" + "ab" * 32,
            "api": "127.0.0.1:5000/dockyard/app:v1",
            "db": "postgres:15",
        }
        doc = yaml.safe_load(image_override(images))
        assert doc == {"services": {s: {"image": i} for s, i in images.items()}}

    def test_services_are_sorted(self) -> None:
        text = image_override({"b": "x:1", "a": "y:2"})
        assert text.index("  a:") < text.index("  b:")
        assert text.endswith("\n")

    def test_no_images_is_an_empty_services_section(self) -> None:
        assert yaml.safe_load(image_override({})) == {"services": None}
