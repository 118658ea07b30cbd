"""`dockyard diff` on the lab, one stack deployed on v1 for the module: what v2 changes, a
changed proxy config, env keys (the secret masked), no changes after a deploy, the host left
untouched, and the diff artifact of a deploy run."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import httpx
import pytest
import yaml

from dockyard.lab.lab import Lab
from tests.integration.conftest import lab_turn
from tests.integration.deploykit import (
    DB_PASSWORD,
    Deploy,
    PrefectServer,
    Result,
    make_deploy,
    release_vars,
)

NEW_PASSWORD = "pw-Qw77-new-never-printed"
RECREATE = re.compile(r"^\s+recreate\s+(\S+)", re.M)


@pytest.fixture(autouse=True)
def _one_test_at_a_time_on_the_lab() -> Iterator[None]:
    """The module's stack holds the machine-wide lab lock for the whole module (shop)."""
    yield


@pytest.fixture(scope="module")
def shop(
    lab: Lab, prefect_server: PrefectServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deploy]:
    """The example stack on v1, shared by the module's tests, with the lab to itself (other
    suites' stacks share the compose project name)."""
    with lab_turn():
        kit = make_deploy(lab, tmp_path_factory.mktemp("diff"), prefect_server, "diff")
        kit.teardown()
        first = kit.deploy("v1")
        assert first.code == 0, first.stderr[-3000:]
        try:
            yield kit
        finally:
            kit.teardown()


def diff(shop: Deploy, version: str, *args: str, **kwargs: object) -> Result:
    return shop.run("diff", *args, variables=release_vars(version), timeout=120,
                    **kwargs)  # type: ignore[arg-type]  # fmt: skip


def listing(shop: Deploy) -> str:
    """Every path under the stack's remote dir with its size and mtime."""
    return shop.host(f"find {shop.remote_dir} -printf '%p %s %T@\\n' | sort")


def test_v2_recreates_exactly_app_and_migrator_by_image_and_leaves_the_host(shop: Deploy) -> None:
    before = listing(shop)
    result = diff(shop, "v2", "--detailed-exitcode")
    assert result.code == 1, result.stderr[-3000:]
    assert sorted(RECREATE.findall(result.stdout)) == ["app", "migrator"], result.stdout
    moved = r"recreate\s+app \(image (\S+)/app@sha256:(\w{12}) -> (\S+)/app@sha256:(\w{12})\)"
    found = re.search(moved, result.stdout)
    assert found and found[2] != found[4], result.stdout
    assert "recreate  migrator (job) (image " in result.stdout
    assert "~ APP_IMAGE: 127.0.0.1:5000/dockyard/app:v1 -> 127.0.0.1:5000/dockyard/app:v2" in (
        result.stdout
    )
    assert "migrate" in result.stdout.split("jobs that will run:")[1]
    assert DB_PASSWORD not in result.stdout + result.stderr
    assert listing(shop) == before, "diff changed the remote dir"
    assert not shop.host(f"ls {shop.remote_dir}/.dockyard/lock 2>/dev/null")

    plain = diff(shop, "v2", "--json")
    assert plain.code == 0, plain.stderr[-3000:]
    (doc,) = json.loads(plain.stdout)
    actions = {s["service"]: s["action"] for s in doc["services"]}
    assert {s for s, a in actions.items() if a != "unchanged"} == {"app", "migrator"}
    assert doc["changed"] and doc["jobs"] == ["migrate", "start-db"]


def test_proxy_config_env_key_and_secret(shop: Deploy) -> None:
    conf = shop.bundle / "proxy" / "nginx.conf"
    original, config = conf.read_text(), shop.config.read_text()
    doc = yaml.safe_load(config)
    doc["stacks"][0]["env"]["FEATURE_FLAG"] = "on"
    try:
        conf.write_text(original + "# tuned\n")
        shop.config.write_text(yaml.safe_dump(doc, sort_keys=False))
        result = diff(shop, "v1", extra_env={"DB_PASSWORD": NEW_PASSWORD})
    finally:
        conf.write_text(original)
        shop.config.write_text(config)
    assert result.code == 0, result.stderr[-3000:]
    out = result.stdout
    assert "recreate  proxy (config: file proxy/nginx.conf)" in out, out
    assert "~ proxy/nginx.conf" in out
    assert "+ FEATURE_FLAG = on" in out
    assert "~ DB_PASSWORD (secret changed)" in out
    assert re.search(r"recreate\s+postgres \(job\) \(config: environment\.DB_PASSWORD\)", out), out
    assert NEW_PASSWORD not in out + result.stderr and DB_PASSWORD not in out + result.stderr
    assert "app" not in RECREATE.findall(out)


def test_after_deploy_no_changes_and_the_run_has_the_diff_artifact(
    shop: Deploy, prefect_server: PrefectServer
) -> None:
    done = shop.deploy("v2")
    assert done.code == 0, done.stderr[-3000:]
    result = diff(shop, "v2", "--detailed-exitcode")
    assert result.code == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.strip() == "vm1/shop: no changes"

    found = httpx.post(f"{prefect_server.url}/artifacts/filter", json={
        "artifacts": {"key": {"any_": ["dockyard-diff-vm1-shop"]}},
        "sort": "CREATED_DESC", "limit": 1,
    }, timeout=10).json()  # fmt: skip
    assert found, "no dockyard-diff-vm1-shop artifact"
    assert found[0]["type"] == "markdown"
    text = found[0]["data"]
    assert text.startswith("### vm1/shop: r-"), text
    assert re.search(r"recreate\s+app \(image ", text) and "~ APP_IMAGE" in text, text
    assert DB_PASSWORD not in text
