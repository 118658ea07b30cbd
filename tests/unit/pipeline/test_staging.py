"""Staging and switching a release through a FakeRunner: what is sent where, in which order."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from dockyard.commands.compose import ComposeProject
from dockyard.commands.hoststate.release import BLOCKED, UNSAFE
from dockyard.compose.oneshot import UpServices
from dockyard.config.stack import project_environment
from dockyard.deadline import Deadline
from dockyard.host.guard import UnsafeHostState
from dockyard.host.releases import Release
from dockyard.pipeline import bundle, switch, up
from dockyard.ssh.link import RunResult
from tests.fakes import FakeRunner

STATE = "/srv/shop/.dockyard"
STACK_ENV = {"DB_PASSWORD": "s3cret", "A": "1"}


def host_stack(bundle_dir: Path, release: str = "r-new", keep: int = 2) -> Any:
    project = ComposeProject("shop", "/srv/shop", files=("docker-compose.yml", "prod.yml"))
    return SimpleNamespace(
        project=project,
        loaded=SimpleNamespace(release=release),
        stack=SimpleNamespace(bundle=bundle_dir, project="shop", remote_dir="/srv/shop",
                              project_env=lambda: project_environment(bundle_dir, STACK_ENV)),
        target=SimpleNamespace(name="vm1"),
        config=SimpleNamespace(disk=SimpleNamespace(keep_releases=keep)),
        mask=lambda text: text.replace("s3cret", "***"),
    )  # fmt: skip


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    (tmp_path / "proxy").mkdir()
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "proxy" / "nginx.conf").write_text("conf\n")
    return tmp_path


def deadline() -> Deadline:
    return Deadline("sync", 30)


def test_manifest_lists_bundle_files_and_env(tree: Path) -> None:
    assert bundle.manifest(tree) == [".env", "docker-compose.yml", "proxy/nginx.conf"]


def test_a_file_name_with_a_line_break_is_refused_naming_it(tree: Path) -> None:
    (tree / "bad\nname").write_text("x")
    with pytest.raises(bundle.BundleInvalid, match=r"bad\\nname.*line break.*rename"):
        bundle.manifest(tree)


def test_sync_seeds_from_the_current_release_then_uploads_into_the_release_dir(
    tree: Path,
) -> None:
    runner = FakeRunner(files={f"{STATE}/current": b"r-old\n"})
    bundle.sync(host_stack(tree), runner, deadline())
    seed, upload, manifest = [a for a in runner.asked if not a.startswith("read")]
    assert f"cp -a -- {STATE}/releases/r-old/files {STATE}/releases/r-new/files.partial" in seed
    assert upload == f"upload {tree} {STATE}/releases/r-new/files"
    assert (
        '> "$t" && [ "$(wc -c < "$t")" -eq' in manifest
        and 'chmod 644 "$t"' in manifest
        and "grep -vxF" in manifest
    )
    assert runner.stdins[-1] == b".env\ndocker-compose.yml\nproxy/nginx.conf\n"
    assert not any("/srv/shop/docker-compose.yml" in a for a in runner.asked)


def test_sync_returns_what_up_will_change_from_its_last_command(tree: Path) -> None:
    runner = FakeRunner().on("grep -vxF", "+ docker-compose.yml\n- old.yml\n")
    assert bundle.sync(host_stack(tree), runner, deadline()) == [
        "+ docker-compose.yml",
        "- old.yml",
    ]
    last = runner.asked[-1]
    assert "chmod 644" in last and last.index("grep -vxF") < last.index("cmp -s")


def test_first_staging_has_nothing_to_seed_from(tree: Path) -> None:
    runner = FakeRunner()
    bundle.sync(host_stack(tree), runner, deadline())
    assert "cp -a" not in runner.asked[1]


def test_a_garbled_current_pointer_is_ignored(tree: Path) -> None:
    runner = FakeRunner(files={f"{STATE}/current": b"$(reboot)\n"})
    bundle.sync(host_stack(tree), runner, deadline())
    assert "cp -a" not in runner.asked[1]


def test_env_goes_to_the_release_dir_with_mode_0600(tree: Path) -> None:
    runner = FakeRunner()
    path = bundle.write_env(host_stack(tree), runner, deadline())
    assert path == f"{STATE}/releases/r-new/files/.env"
    assert runner.asked == [f"write {path} 600"]
    assert runner.files[path] == b"A='1'\nDB_PASSWORD='s3cret'\n"


def test_the_bundles_env_goes_under_the_stacks_env(tree: Path) -> None:
    (tree / ".env").write_text("VERSION=1.29\nA=from-bundle\nURL=db://$A # c\n")
    runner = FakeRunner()
    path = bundle.write_env(host_stack(tree), runner, deadline())
    assert runner.files[path] == (b"A='1'\nDB_PASSWORD='s3cret'\nURL='db://1'\nVERSION='1.29'\n")


def test_the_release_project_is_the_release_files_dir(tree: Path) -> None:
    staged = bundle.release_project(host_stack(tree))
    argv = staged.config_json()
    files = f"{STATE}/releases/r-new/files"
    assert argv[:4] == ["docker", "compose", "--project-name", "shop"]
    assert argv[4:6] == ["--project-directory", files]
    assert argv[6:10] == ["--file", f"{files}/docker-compose.yml", "--file", f"{files}/prod.yml"]
    assert "--env-file" not in argv
    assert staged.state.root == STATE


def test_outside_binds_are_relative_bind_sources_that_are_not_bundle_files() -> None:
    files = f"{STATE}/releases/r-new/files"
    config = {"services": {
        "db": {"volumes": [{"type": "bind", "source": f"{files}/pgdata", "target": "/d"},
                           {"type": "bind", "source": f"{files}/init/provision.sh", "target": "/i"},
                           {"type": "volume", "source": "named", "target": "/v"}]},
        "job": {"volumes": [{"type": "bind", "source": f"{files}/gate", "target": "/gate"},
                            {"type": "bind", "source": f"{files}/conf", "target": "/c"},
                            {"type": "bind", "source": "/etc/hosts", "target": "/h"},
                            {"type": "bind", "source": f"{files}/pgdata", "target": "/d"}]},
    }}  # fmt: skip
    manifest = [".env", "conf/a.yml", "init/provision.sh"]
    assert bundle.outside_binds(config, files, manifest) == ["gate", "pgdata"]


def test_stage_twice_writes_the_same_and_returns_the_release_project(tree: Path) -> None:
    runner = FakeRunner()
    hs = host_stack(tree)
    first = bundle.stage(hs, runner, deadline())
    once = list(runner.asked)
    second = bundle.stage(hs, runner, deadline())
    assert first == second == bundle.release_project(hs)
    assert runner.asked[len(once) :] == once


def test_switch_reports_what_it_changed_in_one_command(tree: Path) -> None:
    runner = FakeRunner().on("set -e", "+ docker-compose.yml\n- old.yml\n")
    changed = switch.switch(host_stack(tree), runner, deadline(), "r-new")
    assert changed == ["+ docker-compose.yml", "- old.yml"]
    (script,) = runner.asked
    assert "mv -fT --" in script and "r-new" in script


def test_switch_refuses_a_directory_where_a_file_goes_naming_it(tree: Path) -> None:
    runner = FakeRunner().on("set -e", RunResult(BLOCKED, "", "postgres-init/provision.sh\n"))
    with pytest.raises(switch.PathBlocked) as info:
        switch.switch(host_stack(tree), runner, deadline(), "r-new")
    assert "/srv/shop/postgres-init/provision.sh is a directory" in str(info.value)
    assert "nothing was changed" in str(info.value)


def test_linking_data_dirs_refused_by_the_host_changes_nothing_and_says_why(tree: Path) -> None:
    files = f"{STATE}/releases/r-new/files"
    config = {"services": {"db": {"volumes": [{"type": "bind", "source": f"{files}/pgdata"}]}}}
    why = "dockyard: /srv/shop/.dockyard/releases is a symlink dockyard did not make: refused\n"
    runner = FakeRunner().on("ln -s", RunResult(UNSAFE, "", why))
    with pytest.raises(
        UnsafeHostState, match=r"/srv/shop was not changed: .*releases is a symlink"
    ):
        bundle.link_outside(host_stack(tree), runner, deadline(), config)


def test_switch_to_a_release_without_files_names_it_and_the_fix(tree: Path) -> None:
    runner = FakeRunner().on("set -e", "", exit_status=3)
    with pytest.raises(switch.ReleaseNotStaged, match=r"r-gone.*disk\.keep_releases"):
        switch.switch(host_stack(tree), runner, deadline(), "r-gone")


def test_a_failed_switch_names_the_directory_masked(tree: Path) -> None:
    runner = FakeRunner().on("set -e", RunResult(1, "", "cp: s3cret: No space left"))
    with pytest.raises(switch.DeployError, match=r"/srv/shop.*\*\*\*: No space") as info:
        switch.switch(host_stack(tree), runner, deadline(), "r-new")
    assert "s3cret" not in str(info.value)


def test_up_switches_then_runs_compose_in_remote_dir_waiting_on_long_running_only(
    tree: Path,
) -> None:
    hs = host_stack(tree)
    hs.stack.up = SimpleNamespace(wait_timeout=120, remove_orphans=True)
    runner = FakeRunner().on("^set -e", "+ docker-compose.yml\n")
    done = up.up(hs, runner, deadline(), [], UpServices(("app", "db"), ("sync",)))
    assert done.changed == ["+ docker-compose.yml"]
    waits, starts = [a for a in runner.asked if " up " in a]
    assert "--project-directory /srv/shop " in waits
    assert re.search(r"up --detach --pull never --wait --wait-timeout 2\d --remove-orphans app db$",
                     waits)  # fmt: skip
    assert starts.endswith("up --detach --pull never --no-deps sync")


def test_up_without_one_shots_is_a_plain_up_wait(tree: Path) -> None:
    hs = host_stack(tree)
    hs.stack.up = SimpleNamespace(wait_timeout=120, remove_orphans=False)
    runner = FakeRunner()
    up.up(hs, runner, deadline(), [])
    (waits,) = [a for a in runner.asked if " up " in a]
    assert re.search(r"up --detach --pull never --wait --wait-timeout 2\d$", waits)


def _release(rid: str, result: str = "succeeded") -> Release:
    return Release(rid, "t", "a", "run", result, "h")


def test_kept_is_this_release_and_the_last_n_distinct_good_ones() -> None:
    history = [_release(r) for r in ("r-1", "r-2", "r-3", "r-2")]
    history += [_release("r-4", "rolled_back"), _release("bad id")]
    assert switch.kept(history, 2, "r-new") == ["r-new", "r-2", "r-3"]
    assert switch.kept(history, 5, "r-2") == ["r-2", "r-3", "r-1"]


def test_prune_keeps_what_kept_says(tree: Path) -> None:
    runner = FakeRunner().on("rm -rf", "r-1\n")
    removed = switch.prune(host_stack(tree, keep=1), runner, deadline(), [_release("r-2")])
    assert removed == ["r-1"]
    assert 'case " r-2 r-new "' in runner.asked[0]


def restarting(tree: Path, before: dict[str, str] | None) -> tuple[Any, FakeRunner]:
    hs = host_stack(tree)
    hs.stack.restarts = [SimpleNamespace(service="proxy", files=["proxy/nginx.conf"])]
    path = f"{STATE}/restart-hashes.json"
    files = {path: json.dumps(before).encode()} if before is not None else {}
    return hs, FakeRunner(files=files)


def test_restarts_restart_then_remember_the_hashes_in_one_command(tree: Path) -> None:
    hs, runner = restarting(tree, {"proxy/nginx.conf": "old"})
    assert up.gated_restarts(hs, runner, deadline()) == ["proxy"]
    (script,) = runner.asked[1:]
    restart, _, remember = script.partition(" && ")
    assert restart.endswith("restart --timeout 10 proxy")
    assert 'cat > "$t"' in remember and f'mv -fT -- "$t" {STATE}/restart-hashes.json' in remember
    sha = hashlib.sha256(b"conf\n").hexdigest()
    assert json.loads(runner.stdins[-1] or b"") == {"proxy/nginx.conf": sha}


def test_restarts_only_remember_on_the_first_deploy_or_without_changes(tree: Path) -> None:
    for before in (None, {"proxy/nginx.conf": hashlib.sha256(b"conf\n").hexdigest()}):
        hs, runner = restarting(tree, before)
        assert up.gated_restarts(hs, runner, deadline()) == []
        assert [a for a in runner.asked if "restart-hashes" in a and "restart --" not in a]
        assert not [a for a in runner.asked if "compose" in a]


@pytest.mark.parametrize("planted", [b"[1, 2]", b"{not json", b'{"proxy/nginx.conf": 7}'])
def test_restarts_treat_unreadable_recorded_hashes_as_changed(tree: Path, planted: bytes) -> None:
    hs, runner = restarting(tree, {})
    runner.files[f"{STATE}/restart-hashes.json"] = planted
    assert up.gated_restarts(hs, runner, deadline()) == ["proxy"]
