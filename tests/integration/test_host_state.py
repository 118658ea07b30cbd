"""The host's state is input (issue 20, item 2): each attack planted on a real lab host under a
deployed stack's remote_dir is refused with a clear message or ignored safely, and nothing
outside remote_dir changes. One stack is deployed once for the module; each test plants its
attack, checks the deploy, and removes what it planted."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.lab.lab import Lab
from tests.integration.conftest import lab_turn
from tests.integration.deploykit import Deploy, PrefectServer, make_deploy, release_vars

APP_V1 = release_vars("v1")


@pytest.fixture(autouse=True)
def _one_test_at_a_time_on_the_lab() -> Iterator[None]:
    """The module's stack holds the machine-wide lab lock for the whole module (shop_stack)."""
    yield


@pytest.fixture(scope="module")
def shop_stack(
    lab: Lab, prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deploy]:
    """The example stack deployed at v1 once, with the lab to itself for the module."""
    with lab_turn():
        kit = make_deploy(lab, tmp_path_factory.mktemp("hoststate"), prefect_server,
                          "host-state")  # fmt: skip
        kit.teardown()
        first = kit.deploy("v1")
        assert first.code == 0, first.stderr[-3000:]
        try:
            yield kit
        finally:
            kit.teardown()


@pytest.fixture()
def outside(shop_stack: Deploy) -> Iterator[Path]:
    """A directory beside remote_dir (outside it) holding a file no deploy may touch."""
    place = Path(f"{shop_stack.remote_dir}-outside")
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir(parents=True)
    (place / "victim.txt").write_text("untouched\n")
    yield place
    shutil.rmtree(place, ignore_errors=True)


def snapshot(root: Path) -> dict[str, str]:
    """Every entry under `root` (links not followed): its kind and content."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                seen[rel] = f"link {os.readlink(path)}"
            elif path.is_file():
                seen[rel] = path.read_text(errors="replace")
            else:
                seen[rel] = "dir"
    return seen


def force_v1(stack: Deploy) -> dict:
    """A full deploy (every step) of the release that runs: it must fail or succeed on its own."""
    done = stack.run("deploy", "--json", "--force", variables=APP_V1)
    return {"code": done.code, "host": done.host(), "steps": done.steps(), "stderr": done.stderr}


def state_dir(stack: Deploy) -> Path:
    return Path(stack.remote_dir, ".dockyard")


def running_release(stack: Deploy) -> str:
    return (state_dir(stack) / "current").read_text().strip()


def test_a_dotdot_manifest_line_removes_nothing_outside(shop_stack: Deploy, outside: Path) -> None:
    manifest = state_dir(shop_stack) / "releases" / running_release(shop_stack) / "manifest"
    original = manifest.read_text()
    before = snapshot(outside)
    line = f"../{outside.name}/victim.txt"
    manifest.write_text(original + line + "\n")
    try:
        failed = shop_stack.deploy("v2")  # switching away from v1 would remove v1's lines
        assert failed.code == 1
        error = failed.host()["error"]
        assert f"manifest line '{line}' is not a normal relative path" in error, error
        assert "remove the release dir" in error
        assert "up" not in failed.steps()
        assert snapshot(outside) == before
        assert shop_stack.version() == "v1"
    finally:
        manifest.write_text(original)


@pytest.mark.parametrize("target", [".env", "docker-compose.yml"])
def test_a_symlink_at_a_target_is_refused(shop_stack: Deploy, outside: Path, target: str) -> None:
    live = Path(shop_stack.remote_dir, target)
    kept = live.with_name(f"{target}.kept")
    live.rename(kept)
    live.symlink_to(outside / "victim.txt")
    before = snapshot(outside)
    try:
        run = force_v1(shop_stack)
        assert run["code"] == 1
        assert f"{live} is a symlink dockyard did not make" in run["host"]["error"]
        assert "up" not in run["steps"]
        assert snapshot(outside) == before
    finally:
        live.unlink()
        kept.rename(live)


@pytest.mark.parametrize("planted", ["tmp-names", "release-dir"])
def test_a_symlink_under_the_state_dir_stops_the_deploy_before_any_write(
    shop_stack: Deploy, outside: Path, planted: str
) -> None:
    state = state_dir(shop_stack)
    if planted == "tmp-names":  # what `$$` of the history append, lock or attempt could be
        names = [f"{name}.tmp" for name in ("releases.jsonl", "attempt")] + ["lock"]
        links = [state / f"{name}.{pid}" for name in names for pid in range(300, 400)]
        for link in links:
            link.symlink_to(outside / "victim.txt")
    else:
        links = [state / "releases" / "r-planted"]
        links[0].symlink_to(outside, target_is_directory=True)
    before, inside = snapshot(outside), snapshot(state)
    try:
        run = force_v1(shop_stack)
        assert run["code"] == 1
        error = run["host"]["error"]
        assert "UnsafeHostState" in error and "is a symlink, and dockyard makes none" in error
        assert any(f"rm {link})" in error for link in links), error
        assert run["steps"]["lock"]["state"] == "Failed" and "plan" not in run["steps"]
        assert snapshot(outside) == before
        assert snapshot(state) == inside  # not even the lock file was written
    finally:
        for link in links:
            link.unlink()


def test_a_crafted_attempt_token_is_ignored_and_its_journal_unused(shop_stack: Deploy) -> None:
    elsewhere = Path(f"/tmp/dockyard-hoststate-{os.getpid()}")
    shutil.rmtree(elsewhere, ignore_errors=True)
    elsewhere.mkdir()
    for step, result in (("sync", []), ("env", "/nowhere/.env")):
        entry = {"step": step, "finished_at": 1.0, "result": result}
        (elsewhere / f"{step}.json").write_text(json.dumps(entry))
    depth = len(Path(shop_stack.remote_dir).parts) + 1  # / .. remote_dir, .dockyard, journal
    token = "../" * depth + elsewhere.relative_to("/").as_posix()
    attempt = state_dir(shop_stack) / "attempt"
    attempt.write_text(f"{running_release(shop_stack)} open {token}\n")
    before = snapshot(elsewhere)
    try:
        run = force_v1(shop_stack)
        assert run["code"] == 0, run["host"]
        assert run["steps"]["sync"]["state"] == "Completed"
        assert run["steps"]["env"]["state"] == "Completed"
        assert snapshot(elsewhere) == before
        release, outcome = attempt.read_text().split()
        assert (release, outcome) == (running_release(shop_stack), "succeeded")
        tokens = os.listdir(state_dir(shop_stack) / "journal")
        assert len(tokens) == 1 and all(c in "0123456789abcdef" for c in tokens[0])
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


def test_an_image_with_a_newline_in_the_history_is_never_used(shop_stack: Deploy) -> None:
    history = state_dir(shop_stack) / "releases.jsonl"
    original = history.read_text()
    newest = json.loads(original.splitlines()[-1])
    evil = "127.0.0.1:5000/dockyard/app:v1\n    privileged: true\n    volumes: ['/:/host']"
    planted = {**newest, "id": "r-planted", "images": {**newest["images"], "app": evil}}
    history.write_text(original + json.dumps(planted) + "\n")
    override = state_dir(shop_stack) / "images.override.yml"
    try:
        rolled = shop_stack.run("rollback", "--to", "r-planted", variables=APP_V1)
        said = rolled.stdout + rolled.stderr
        assert rolled.code == 1
        assert "no release r-planted to roll back to" in said, said[-3000:]
        assert "not a valid release record (images.app is not an image reference" in said
        assert not override.exists()
        deployed = shop_stack.deploy("v1")  # the planted line is the head the check reads
        assert deployed.code == 1
        assert "releases.jsonl is not a valid release record" in deployed.host()["error"]
        privileged = shop_stack.host(
            "docker ps -q --filter label=com.docker.compose.project=shop | xargs -r docker "
            "inspect --format '{{.HostConfig.Privileged}}'"
        )
        assert "true" not in privileged and "false" in privileged
    finally:
        history.write_text(original)


def test_a_group_writable_remote_dir_is_refused_with_the_fix(shop_stack: Deploy) -> None:
    remote = Path(shop_stack.remote_dir)
    state = state_dir(shop_stack)
    inside = snapshot(state)
    remote.chmod(0o775)
    try:
        run = force_v1(shop_stack)
        assert run["code"] == 1
        error = run["host"]["error"]
        assert f"{remote} is group- or world-writable (mode 775)" in error
        assert f"fix: chmod go-w {remote}" in error
        assert run["steps"]["lock"]["state"] == "Failed" and "plan" not in run["steps"]
        assert snapshot(state) == inside
    finally:
        remote.chmod(0o755)
    assert oct(state.stat().st_mode & 0o777) == "0o700"
