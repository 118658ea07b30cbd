"""The docker and shell command builders, tested as strings."""

from __future__ import annotations

from dockyard.commands import docker, shell


def test_network_names_lists_every_name_one_per_line() -> None:
    assert docker.network_names() == "docker network ls --format '{{.Name}}'"


def test_disk_usage_uses_the_engine_root() -> None:
    assert docker.disk_usage() == "df -h $(docker info --format '{{.DockerRootDir}}') /"


def test_shell_builders_quote_paths() -> None:
    assert shell.mkdir("/opt/my shop/.dockyard") == "mkdir -p '/opt/my shop/.dockyard'"
    assert shell.mkdir("/tmp/x", mode="700") == "mkdir -p -m 700 /tmp/x"
    assert shell.remove_tree("/tmp/a b") == "rm -rf -- '/tmp/a b'"
