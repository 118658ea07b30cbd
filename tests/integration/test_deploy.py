"""The deploy flow end to end on the lab: fresh, no-op, new release, failures, rollback, lock."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator

import pytest

from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.lab import Lab
from tests.integration.conftest import lab_turn
from tests.integration.deploykit import (
    DB_PASSWORD,
    Deploy,
    PrefectServer,
    app,
    make_deploy,
    migrator,
    moved_latest,
    release_vars,
    unhealthy_in,
)

SERVICES = {"app", "postgres", "redis", "proxy", "router", "gateway", "autoheal", "tools", "worker"}


@pytest.fixture(scope="module")
def shop(
    lab: Lab, prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deploy]:
    """One example stack shared in file order by the tests whose checks hold from any release
    of it: the fresh deploy leaves v1, the next starts from it (its own v1 deploy is then the
    no-op check, a full deploy when run alone); absent before and after, under the lab's turn
    lock."""
    with lab_turn():
        kit = make_deploy(lab, tmp_path_factory.mktemp("shop"), prefect_server, "deploy-shared")
        kit.teardown()
    yield kit
    with lab_turn():
        kit.teardown()


def _migrations(deploy: Deploy) -> list[str]:
    out = deploy.host("docker run --rm -v shop_migrations:/data 127.0.0.1:5000/dockyard/busybox "
                      "cat /data/migrations.log")  # fmt: skip
    return out.split("\n")[:-1] if out else []


def test_fresh_deploy_then_noop_redeploy_touches_nothing(shop: Deploy, proxy: ProxyControl) -> None:
    first = shop.deploy("v1")
    assert first.code == 0, first.stderr[-3000:]
    assert first.report["result"] == "succeeded"
    assert set(shop.container_ids()) == SERVICES
    assert shop.version() == "v1"
    assert _migrations(shop) == ["applied v1"]
    before = shop.container_ids()

    proxy.reset_stats("registry")
    again = shop.deploy("v1")
    assert again.code == 0, again.stderr[-3000:]
    assert again.report["flow_run_id"] == "", "an unchanged host needs no flow run"
    assert again.host()["unchanged"] == ["shop"]
    assert list(again.steps()) == ["converge"]
    requests = proxy.stats("registry")["requests"]
    assert requests and not [r for r in requests if "/blobs/" in r["path"]], requests
    assert not [r for r in requests if r["method"] != "HEAD"], "the check only HEADs manifests"
    assert shop.container_ids() == before
    assert _migrations(shop) == ["applied v1"]

    forced = shop.run("deploy", "--json", "--force", variables=release_vars("v1"))
    assert forced.code == 0, forced.stderr[-3000:]
    images = forced.host()["images"]
    assert {i["action"] for i in images if "worker" not in i["image"]} <= {"skip", "verify"}
    assert sum(i["bytes"] for i in images) == 0, [i for i in images if i["bytes"]]
    assert forced.steps()["converge"]["state"] == "Completed"
    assert forced.steps()["up"]["state"] == "Completed", "--force runs every step"
    assert shop.container_ids() == before
    assert _migrations(shop) == ["applied v1", "applied v1"]


def test_a_stopped_service_or_a_moved_tag_makes_the_same_release_deploy_again(
    shop: Deploy, lab: Lab
) -> None:
    assert shop.deploy("v1").code == 0
    shop.compose("stop", "redis")
    healed = shop.deploy("v1")
    assert healed.code == 0, healed.stderr[-3000:]
    assert healed.report["flow_run_id"] and healed.host()["unchanged"] == []
    assert healed.steps()["up"]["state"] == "Completed"
    assert set(shop.container_ids()) == SERVICES
    assert shop.deploy("v1").report["flow_run_id"] == "", "healed: unchanged again"

    with moved_latest(lab):
        again = shop.deploy("v1")
        assert again.code == 0, again.stderr[-3000:]
        assert again.report["flow_run_id"], "a moved tag is not a no-op"
        autoheal = next(i for i in again.host()["images"] if "autoheal" in i["image"])
        assert autoheal["action"] == "pull"


def test_changed_config_file_restarts_exactly_its_service(shop: Deploy) -> None:
    assert shop.deploy("v1").code == 0
    started = _started_at(shop)
    (shop.bundle / "proxy" / "nginx.conf").write_text(
        "# changed\nupstream app { server app:8080; }\n"
    )
    again = shop.deploy("v1")
    assert again.code == 0, again.stderr[-3000:]
    after = _started_at(shop)
    restarted = {s for s in started if started[s] != after[s]}
    assert restarted - {"autoheal"} == {"proxy"}, (
        "autoheal is stop-first: it restarts on any release"
    )
    assert "restarted proxy: its config files changed" in again.host()["notes"]


def _started_at(deploy: Deploy) -> dict[str, str]:
    ids = deploy.container_ids()
    fmt = "{{.State.StartedAt}}"
    return {s: deploy.host(f"docker inspect --format '{fmt}' {i}").strip() for s, i in ids.items()}


def test_going_back_to_an_earlier_release_deploys_it_again(shop: Deploy) -> None:
    assert shop.deploy("v1").code == 0
    assert shop.deploy("v2").code == 0
    back = shop.deploy("v1")
    assert back.code == 0, back.stderr[-2000:]
    assert back.steps()["up"]["state"] == "Completed"
    assert shop.version() == "v1"


def test_new_release_pulls_the_per_deploy_images_and_migrates_once(deploy: Deploy) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.forget_images(app("v2"), migrator("v2"))
    second = deploy.deploy("v2")
    assert second.code == 0, second.stderr[-3000:]
    pulled = {i["image"] for i in second.host()["images"] if i["action"] == "pull"}
    assert pulled == {app("v2"), migrator("v2"), "127.0.0.1:5002/dockyard/worker:1.0"}
    pulls = [s for s in second.host()["steps"] if s["name"].startswith("pull ")]
    up = second.steps()["up"]  # start offsets (the critical path): up starts after every pull
    assert up["started"] >= max(p["started"] + p["seconds"] for p in pulls) - 0.01 > 0
    assert deploy.version() == "v2"
    assert _migrations(deploy) == ["applied v1", "applied v2"]
    releases = deploy.run("releases", "--json", variables=release_vars("v1"))
    assert releases.code == 0, releases.stderr
    records = json.loads(releases.stdout)
    assert [r["result"] for r in records] == ["succeeded", "succeeded"]
    assert records[-1]["variables"]["APP_IMAGE"] == app("v2")
    assert records[-1]["images"]["app"].startswith("127.0.0.1:5000/dockyard/app@sha256:")


def test_failing_migration_keeps_the_old_stack_and_releases_the_lock(deploy: Deploy) -> None:
    assert deploy.deploy("v1").code == 0
    deploy.host(f"mkdir -p {deploy.remote_dir}/gate && touch {deploy.remote_dir}/gate/fail")
    failed = deploy.deploy("v2")
    assert failed.code == 1
    host = failed.host()
    assert host["result"] == "failed"
    assert "migrate" in host["error"]
    assert "/gate/fail is present" in host["diagnostics"]
    steps = failed.steps()
    assert steps["job migrate"]["state"] == "Failed"
    assert "up" not in steps
    assert deploy.version() == "v1"
    assert not os.path.exists(f"{deploy.remote_dir}/.dockyard/lock")


def test_unhealthy_release_rolls_back_to_the_previous_digests(deploy: Deploy) -> None:
    unhealthy_in(deploy.bundle)
    assert deploy.deploy("v1").code == 0
    broken = deploy.deploy("broken", migration="v2")
    assert broken.code == 1
    assert broken.report["result"] == "rolled_back"
    host = broken.host()
    assert any("rolled back to release" in n for n in host["notes"]), host["notes"]
    assert broken.steps()["rollback"]["state"] == "Completed"
    assert deploy.version() == "v1"
    records = json.loads(deploy.run("releases", "--json", variables=release_vars("v1")).stdout)
    assert [r["result"] for r in records] == ["succeeded", "rolled_back"]


def _short_lock_wait(doc: dict) -> None:
    doc["steps"]["lock"]["wait"] = "0s"  # fail at once (a wait must otherwise outlast expiry)


@pytest.mark.deploy_config.with_args(_short_lock_wait)
def test_two_deploys_at_once_never_both_hold_the_lock(deploy: Deploy) -> None:
    assert deploy.deploy("v1").code == 0
    first = subprocess.Popen(
        _deploy_argv(deploy, "v2"), env=deploy.env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    lock = f"{deploy.remote_dir}/.dockyard/lock"
    deadline = time.monotonic() + 60
    while not os.path.exists(lock) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(lock), "first deploy never took the lock"
    with open(lock) as held:
        holder = json.load(held)["run_id"]
    second = deploy.deploy("v3")
    out, _ = first.communicate(timeout=600)
    print(second.stdout)
    assert second.code == 1
    assert "LockHeld" in second.host()["error"]
    assert holder in second.host()["error"]
    assert json.loads(out)["result"] == "succeeded"


def _deploy_argv(deploy: Deploy, version: str) -> list[str]:
    from tests.integration.deploykit import DOCKYARD

    sets = [f"--set={k}={v}" for k, v in release_vars(version).items()]
    return [DOCKYARD, "deploy", "--json", "-c", str(deploy.config), *sets]


def test_secrets_stay_out_of_output_artifacts_and_files(deploy: Deploy) -> None:
    result = deploy.deploy("v1")
    assert result.code == 0
    assert DB_PASSWORD not in result.stdout + result.stderr
    env_file = f"{deploy.remote_dir}/.env"
    assert oct(os.stat(env_file).st_mode & 0o777) == "0o600"
    with open(env_file) as env:
        assert DB_PASSWORD in env.read()
    records = deploy.host(f"cat {deploy.remote_dir}/.dockyard/releases.jsonl")
    assert DB_PASSWORD not in records
    artifacts = _artifacts(deploy)
    assert artifacts and all(DB_PASSWORD not in a for a in artifacts)


def _artifacts(deploy: Deploy) -> list[str]:
    import httpx

    url = deploy.env["PREFECT_API_URL"]
    found = httpx.post(f"{url}/artifacts/filter", json={"limit": 200}, timeout=10).json()
    return [json.dumps(a) for a in found]


@pytest.mark.parametrize("version", ["v9-missing"])
def test_missing_per_deploy_tag_fails_before_any_change(deploy: Deploy, version: str) -> None:
    images_before = deploy.host("docker image ls -q --no-trunc | sort")
    result = deploy.deploy(version)
    assert result.code == 1
    assert app(version) in result.host()["error"]
    assert "Nothing was changed" in result.host()["error"]
    assert not os.path.exists(f"{deploy.remote_dir}/docker-compose.yml")
    assert deploy.container_ids() == {}
    assert deploy.host("docker image ls -q --no-trunc | sort") == images_before
