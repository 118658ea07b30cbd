"""A release switches whole on the lab: staged beside the running one, switched in at `up`,
and switched back (files, .env, service set) by a rollback."""

from __future__ import annotations

import json
import time
from pathlib import Path

from dockyard.lab import catalog
from dockyard.lab.images import CONFIG_TYPE, MANIFEST_TYPE, Blob, BuiltImage, RegistryPusher, build
from dockyard.lab.lab import Lab
from tests.integration.deploykit import Deploy, app, unhealthy_in

BAD_PULL = "staging-badpull"
EXTRA_SERVICE = """
  extra:  # added by the release under test
    image: 127.0.0.1:5000/dockyard/redis:7.2
"""


def push_unpullable_app(lab: Lab, tag: str) -> None:
    """An app image whose manifest exists (verify passes) but whose config does not match its
    layers: the engine refuses it at the end of the pull, every time."""
    image = build(catalog.app(tag))
    config = json.loads(image.config.data)
    config["rootfs"]["diff_ids"][-1] = "sha256:" + "0" * 64
    blob = Blob(CONFIG_TYPE, json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE, "config": blob.descriptor(),
                "layers": [layer.descriptor() for layer in image.layers]}  # fmt: skip
    manifest_blob = Blob(MANIFEST_TYPE, json.dumps(manifest, sort_keys=True).encode())
    bad = BuiltImage(image.spec, image.layers, blob, manifest_blob)
    with RegistryPusher(f"http://127.0.0.1:{lab.layout.ports.registry_direct}") as pusher:
        pusher.push(bad)


def live_files(deploy: Deploy) -> dict[str, str]:
    """The files the running stack reads: compose file, a bind-mounted config, .env."""
    root = Path(deploy.remote_dir)
    names = ("docker-compose.yml", "proxy/nginx.conf", ".env")
    return {n: (root / n).read_text() for n in names}


def mounted_conf(deploy: Deploy) -> str:
    """/etc/nginx.conf as the running proxy container sees it (a bind-mounted bundle file)."""
    proxy = deploy.container_ids()["proxy"]
    return deploy.host(f"docker exec {proxy} cat /etc/nginx.conf")


def test_a_pull_that_fails_after_sync_leaves_the_running_stack_untouched(
    deploy: Deploy, lab: Lab
) -> None:
    assert deploy.deploy("v1").code == 0
    before, conf_before = live_files(deploy), mounted_conf(deploy)
    current = Path(deploy.remote_dir, ".dockyard", "current").read_text()
    push_unpullable_app(lab, BAD_PULL)
    deploy.forget_images(app(BAD_PULL))
    (deploy.bundle / "proxy" / "nginx.conf").write_text("# new release\n")
    (deploy.bundle / "added.txt").write_text("only in the new release\n")

    failed = deploy.deploy(BAD_PULL, migration="v1")
    assert failed.code == 1
    host = failed.host()
    assert host["result"] == "failed"
    assert app(BAD_PULL) in host["error"], host["error"]
    steps = failed.steps()
    assert steps["sync"]["state"] == "Completed" and "up" not in steps
    assert live_files(deploy) == before
    assert mounted_conf(deploy) == conf_before
    assert not Path(deploy.remote_dir, "added.txt").exists()
    assert Path(deploy.remote_dir, ".dockyard", "current").read_text() == current
    assert deploy.version() == "v1"
    staged = Path(deploy.remote_dir, ".dockyard", "releases", failed.report["release"], "files")
    assert (staged / "proxy" / "nginx.conf").read_text() == "# new release\n"
    assert app(BAD_PULL) in (staged / ".env").read_text()


def test_rollback_restores_files_env_and_removes_the_service_the_release_added(
    deploy: Deploy,
) -> None:
    unhealthy_in(deploy.bundle)
    assert deploy.deploy("v1").code == 0
    before = live_files(deploy)
    compose = deploy.bundle / "docker-compose.yml"
    text = compose.read_text()
    compose.write_text(text.replace("\nvolumes:\n", EXTRA_SERVICE + "\nvolumes:\n", 1))
    (deploy.bundle / "proxy" / "nginx.conf").write_text("# broken release\n")
    (deploy.bundle / "added.txt").write_text("only in the broken release\n")
    started = int(time.time()) - 1

    broken = deploy.deploy("broken", migration="v2")
    assert broken.code == 1
    assert broken.report["result"] == "rolled_back", broken.host()
    notes = broken.host()["notes"]
    assert any(n.startswith("restored release ") for n in notes), notes
    assert live_files(deploy) == before
    assert not Path(deploy.remote_dir, "added.txt").exists()
    assert deploy.version() == "v1"
    assert mounted_conf(deploy) == before["proxy/nginx.conf"]
    extra = ("--filter label=com.docker.compose.project=shop "
             "--filter label=com.docker.compose.service=extra")  # fmt: skip
    assert deploy.host(f"docker ps -a -q {extra}").strip() == ""
    events = f"docker events --since {started} --until {int(time.time())} --filter event=destroy"
    destroyed = deploy.host(f"{events} {extra} --format '{{{{.Action}}}}'")
    assert "destroy" in destroyed, "the broken release never started its extra service"
