"""Rollback (pure, FakeRunner): files and .env restored, only tags that moved put back (the
tag pointed at the recorded image again, or by digest through a YAML override when that image
is gone), one-shots kept out of `up --wait`."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from dockyard.commands.compose import ComposeProject
from dockyard.deadline import Deadline
from dockyard.host.releases import Release
from dockyard.host.rollback import Pins, pins, restore
from dockyard.images.plan import LocalImage
from tests.fakes import FakeRunner

R = "127.0.0.1:5000/dockyard"
OLD_APP, NEW_APP, DB, INIT = ("sha256:" + c * 64 for c in "abcd")
OLD_DIGEST = "sha256:" + "1" * 64
TO = Release(
    id="r-old", time="t", actor="a", run_id="x", result="succeeded", config_hash="r-old",
    images={"app": f"{R}/app@{OLD_DIGEST}", "db": DB},
    refs={"app": f"{R}/app:stable", "db": f"{R}/db:15", "init": f"{R}/init:1",
          "pinned": f"{R}/p@{OLD_DIGEST}"},
    services={"app": {"id": OLD_APP, "config_hash": "h1"}, "db": {"id": DB, "config_hash": "h2"},
              "init": {"id": INIT, "config_hash": "h3"}},
    one_shot=["init"],
)  # fmt: skip
OLD_APP_IMAGE = LocalImage(OLD_APP, (), (f"{R}/app@{OLD_DIGEST}",))


def test_only_a_tag_that_moved_is_pointed_back_at_the_recorded_image() -> None:
    images = [LocalImage(NEW_APP, (f"{R}/app:stable",)), OLD_APP_IMAGE,
              LocalImage(DB, (f"{R}/db:15",)), LocalImage(INIT, (f"{R}/init:1",))]  # fmt: skip
    assert pins(TO, images) == Pins(retag={f"{R}/app:stable": OLD_APP})


def test_nothing_moved_pins_nothing() -> None:
    images = [LocalImage(OLD_APP, (f"{R}/app:stable",)), LocalImage(DB, (f"{R}/db:15",)),
              LocalImage(INIT, (f"{R}/init:1",))]  # fmt: skip
    assert pins(TO, images) == Pins()


def test_a_moved_tag_whose_old_image_is_gone_is_pinned_by_digest_or_noted() -> None:
    images = [LocalImage(DB, (f"{R}/db:16",)), LocalImage(INIT, (f"{R}/init:1",))]
    back = pins(TO, images)
    assert back.pinned == {"app": f"{R}/app@{OLD_DIGEST}"}  # the record's digest still names it
    assert back.retag == {f"{R}/db:15": DB}  # db's image is still here, under another tag
    gone = Release(**{**TO.__dict__, "images": {}})
    back = pins(gone, images)
    assert back.pinned == {} and back.retag == {f"{R}/db:15": DB}
    assert [n.split(":")[0] for n in back.notes] == ["app"]


def _facts(images: list[LocalImage]) -> str:
    return json.dumps({
        "facts": 1, "containers": [],
        "images": [{"id": i.id, "tags": list(i.repo_tags), "digests": list(i.repo_digests)}
                   for i in images],
    })  # fmt: skip


def _host_stack(runner: FakeRunner, tmp_path: Path) -> Any:
    return SimpleNamespace(
        project=ComposeProject("shop", "/srv/shop"), runner=runner,
        loaded=SimpleNamespace(release="r-new"), target=SimpleNamespace(name="vm1"),
        stack=SimpleNamespace(project="shop", remote_dir="/srv/shop", bundle=tmp_path,
                              up=SimpleNamespace(wait_timeout=60, remove_orphans=True)),
        mask=lambda text: text,
    )  # fmt: skip


def test_rollback_points_the_moved_tag_back_and_waits_on_long_running(tmp_path: Path) -> None:
    images = [LocalImage(NEW_APP, (f"{R}/app:stable",)), OLD_APP_IMAGE,
              LocalImage(DB, (f"{R}/db:15",)), LocalImage(INIT, (f"{R}/init:1",))]  # fmt: skip
    runner = FakeRunner().on(r"^printf '\{\"facts", _facts(images)).on("^set -e", "+ .env\n")
    notes = restore(_host_stack(runner, tmp_path), TO, Deadline("rollback", 60))
    assert runner.files == {}  # no override: the service keeps its compose config
    tag = runner.asked.index(f"docker tag {OLD_APP} {R}/app:stable")
    (up,) = [a for a in runner.asked if " up " in a]
    assert runner.asked.index(up) > tag
    assert "override" not in up and "--wait" in up
    assert up.endswith("--remove-orphans app db")
    assert notes[-1] == f"tags pointed back at release r-old's images: {R}/app:stable"


def test_rollback_pins_by_digest_when_the_recorded_image_is_gone(tmp_path: Path) -> None:
    images = [LocalImage(NEW_APP, (f"{R}/app:stable",)), LocalImage(DB, (f"{R}/db:15",)),
              LocalImage(INIT, (f"{R}/init:1",))]  # fmt: skip
    runner = FakeRunner().on(r"^printf '\{\"facts", _facts(images)).on("^set -e", "")
    notes = restore(_host_stack(runner, tmp_path), TO, Deadline("rollback", 60))
    override = "/srv/shop/.dockyard/images.override.yml"
    assert yaml.safe_load(runner.files[override]) == {
        "services": {"app": {"image": f"{R}/app@{OLD_DIGEST}"}}
    }
    (up,) = [a for a in runner.asked if " up " in a]
    assert f"--file {override}" in up
    assert notes[-1] == "pinned by digest (their image is gone): app"


def test_rollback_with_nothing_moved_writes_no_override(tmp_path: Path) -> None:
    images = [LocalImage(OLD_APP, (f"{R}/app:stable",)), LocalImage(DB, (f"{R}/db:15",))]
    runner = FakeRunner().on(r"^printf '\{\"facts", _facts(images)).on("^set -e", "")
    restore(_host_stack(runner, tmp_path), TO, Deadline("rollback", 60))
    assert runner.files == {}
    (up,) = [a for a in runner.asked if " up " in a]
    assert "override" not in up
