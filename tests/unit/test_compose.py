"""Pure tests of the compose command builders: argv order, flags, and the image override file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from dockyard.commands.compose import NETWORKS_MARK, ComposeProject, image_override

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
        assert yaml.safe_load(image_override({})) == {"services": {}}


FAKE_DOCKER = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$1 $2" in
  "network ls") printf 'bridge\\nedge\\n' ;;
  "compose --project-name") [ -e "$FAIL" ] && { echo 'bad stack' >&2; exit 15; }
                            echo '{"services": {"app": {}}}' ;;
esac
"""


class TestResolveCached:
    def test_the_script_keys_the_cache_by_the_cli_and_plugin_files(self) -> None:
        script = SHOP.resolve_cached("/opt/shop/.dockyard/releases/r-1", profiles=["*"])
        assert script.startswith('k=$(stat -L -c "%n %s %Y" "$(command -v docker)" ')
        assert '"${DOCKER_CONFIG:-$HOME/.docker}"/cli-plugins/docker-compose' in script
        assert 'c=/opt/shop/.dockyard/releases/r-1/config."$(echo $k | tr " " -)".json' in script
        assert "(umask 077; docker compose --project-name shop " in script
        assert "--profile '*' config --format json > \"$c.tmp.$$\")" in script
        assert script.endswith(
            f"echo {NETWORKS_MARK} && docker network ls --format '{{{{.Name}}}}'"
        )

    def run(self, tmp_path: Path, cache_dir: Path) -> subprocess.CompletedProcess[str]:
        bin_dir = tmp_path / "bin"
        if not bin_dir.exists():
            bin_dir.mkdir()
            (bin_dir / "docker").write_text(FAKE_DOCKER)
            (bin_dir / "docker").chmod(0o755)
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
               "CALLS": str(tmp_path / "calls"), "FAIL": str(tmp_path / "fail")}  # fmt: skip
        script = SHOP.resolve_cached(str(cache_dir))
        return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                              timeout=30)  # fmt: skip

    def calls(self, tmp_path: Path) -> list[str]:
        return (tmp_path / "calls").read_text().splitlines()

    def test_compose_runs_once_per_cache_dir_and_the_networks_every_time(
        self, tmp_path: Path
    ) -> None:
        cache_dir = tmp_path / "r-1"
        cache_dir.mkdir()
        first, second = self.run(tmp_path, cache_dir), self.run(tmp_path, cache_dir)
        assert first.returncode == second.returncode == 0, first.stderr
        assert first.stdout == second.stdout
        assert first.stdout == f'{{"services": {{"app": {{}}}}}}\n\n{NETWORKS_MARK}\nbridge\nedge\n'
        assert [c.split()[0] for c in self.calls(tmp_path)] == [
            "compose", "network", "network",
        ]  # fmt: skip
        (cache,) = cache_dir.iterdir()
        assert cache.name.startswith("config.") and cache.stat().st_mode & 0o777 == 0o600

    def test_a_compose_failure_exits_with_its_status_and_caches_nothing(
        self, tmp_path: Path
    ) -> None:
        cache_dir = tmp_path / "r-1"
        cache_dir.mkdir()
        (tmp_path / "fail").touch()
        failed = self.run(tmp_path, cache_dir)
        assert failed.returncode == 15 and "bad stack" in failed.stderr
        assert list(cache_dir.iterdir()) == []
        (tmp_path / "fail").unlink()
        assert self.run(tmp_path, cache_dir).returncode == 0
        assert [c.split()[0] for c in self.calls(tmp_path)] == ["compose", "compose", "network"]

    def test_another_compose_build_resolves_afresh(self, tmp_path: Path) -> None:
        cache_dir = tmp_path / "r-1"
        cache_dir.mkdir()
        self.run(tmp_path, cache_dir)
        docker = tmp_path / "bin" / "docker"
        os.utime(docker, (1, 1))
        self.run(tmp_path, cache_dir)
        assert [c.split()[0] for c in self.calls(tmp_path)].count("compose") == 2
        assert len(list(cache_dir.iterdir())) == 2
