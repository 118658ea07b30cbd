"""The docker and shell command builders, tested as strings."""

from __future__ import annotations

from dockyard.commands import docker, shell


def test_probe_prints_three_facts_in_one_command() -> None:
    text = docker.probe()
    assert "docker version --format '{{.Server.Version}}'" in text
    assert "docker compose version --short" in text
    assert text.endswith("docker info --format '{{.DockerRootDir}}'")


def test_missing_networks_quotes_each_name() -> None:
    text = docker.missing_networks(["edge", "we ird"])
    assert "docker network inspect edge >/dev/null 2>&1 || echo edge" in text
    assert "docker network inspect 'we ird'" in text


def test_disk_usage_uses_the_engine_root() -> None:
    assert docker.disk_usage() == "df -h $(docker info --format '{{.DockerRootDir}}') /"


def test_shell_builders_quote_paths() -> None:
    assert shell.mkdir("/opt/my shop/.dockyard") == "mkdir -p '/opt/my shop/.dockyard'"
    assert shell.mkdir("/tmp/x", mode="700") == "mkdir -p -m 700 /tmp/x"
    assert shell.remove_tree("/tmp/a b") == "rm -rf -- '/tmp/a b'"
