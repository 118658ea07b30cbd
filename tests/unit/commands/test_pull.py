"""The pull command builders, as strings."""

from __future__ import annotations

from dockyard.commands.pull import detached_pull, engine_layers


def test_detached_pull_runs_in_its_own_session_bounded_and_quoted() -> None:
    assert detached_pull("r.io/app@sha256:ab", 90.7) == (
        "setsid -f timeout 90 docker pull --quiet r.io/app@sha256:ab >/dev/null 2>&1 </dev/null"
    )
    assert "timeout 1 " in detached_pull("a b", 0.2)
    assert "'a b'" in detached_pull("a b", 5)


def test_engine_layers_lists_every_image_once_with_its_rootfs_layers() -> None:
    script = engine_layers()
    assert script.startswith("docker image ls --all --quiet --no-trunc | sort -u | xargs -r ")
    assert "{{.Id}}{{range .RootFS.Layers}} {{.}}{{end}}" in script
