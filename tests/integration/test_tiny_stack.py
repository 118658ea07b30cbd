"""A tiny stack on the lab as compose would run it: the bundle's .env under stacks[].env, an
env_file, a job that bind-mounts a bundle script (and writes to a data dir outside the
bundle), an init service with service_completed_successfully, a declared one-shot; redeploy
is a no-op, a new release's job sees its new script, rollback recreates only what changed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.integration.deploykit import Deploy

TINY = Path(__file__).parent / "fixtures" / "tiny"
LONG_RUNNING = {"web", "cache"}


def _tiny(doc: dict[str, Any]) -> None:
    stack = doc["stacks"][0]
    for key in ("profiles", "restarts", "up"):
        stack.pop(key, None)
    stack.update(
        env={"OVERRIDE": "from-stack", "DB_HOST": "prod-db"},
        one_shot=["sync"],
        jobs=[{"name": "provision", "service": "provision", "timeout": "1m"}],
        health={"compose": True},
    )
    doc["images"].pop("services", None)


def _use_tiny_bundle(deploy: Deploy) -> None:
    shutil.rmtree(deploy.bundle)
    shutil.copytree(TINY, deploy.bundle)


def _set_release(deploy: Deploy, version: str) -> None:
    env = (TINY / ".env").read_text().replace("WEB_TAG=v1", f"WEB_TAG={version}")
    (deploy.bundle / ".env").write_text(env)
    script = (TINY / "scripts" / "provision.sh").read_text().replace("v1", version)
    (deploy.bundle / "scripts" / "provision.sh").write_text(script)


def _ps(deploy: Deploy) -> dict[str, dict[str, Any]]:
    rows = [json.loads(x) for x in deploy.compose("ps", "--all", "--format", "json").splitlines()
            if x]  # fmt: skip
    return {r["Service"]: r for r in rows}


def _env_of(deploy: Deploy, service: str) -> dict[str, str]:
    out = deploy.host(f"docker inspect --format '{{{{json .Config.Env}}}}' "
                      f"{_ps(deploy)[service]['ID']}")  # fmt: skip
    return dict(item.split("=", 1) for item in json.loads(out))


def _provisioned(deploy: Deploy) -> list[str]:
    path = Path(deploy.remote_dir) / "out" / "provisioned.log"
    return path.read_text().splitlines() if path.exists() else []


def _ids(deploy: Deploy) -> dict[str, str]:
    return {s: r["ID"] for s, r in _ps(deploy).items() if s in LONG_RUNNING}


def _deploy(deploy: Deploy) -> Any:
    done = deploy.run("deploy", "--json")
    assert done.code == 0, done.stderr[-3000:]
    return done


@pytest.mark.deploy_config.with_args(_tiny)
def test_tiny_stack_first_deploy_noop_new_release_rollback_noop(deploy: Deploy) -> None:
    _use_tiny_bundle(deploy)
    _deploy(deploy)
    ps = _ps(deploy)
    assert ps["web"]["Image"].endswith("/app:v1") and ps["web"]["State"] == "running"
    assert (ps["init"]["State"], ps["init"]["ExitCode"]) == ("exited", 0)
    assert (ps["sync"]["State"], ps["sync"]["ExitCode"]) == ("exited", 0)
    assert "provision" not in ps, "a job's service is not started again by up"
    env = _env_of(deploy, "web")
    assert env["GREETING"] == "hello from env_file"
    assert env["OVERRIDE"] == "from-stack"
    assert env["DB_URL"] == "postgres://prod-db:5432/app", "the bundle .env sees stack values"
    assert _provisioned(deploy) == ["provision v1"], "the job ran the release's own script"
    dotenv = Path(deploy.remote_dir) / ".env"
    assert oct(os.stat(dotenv).st_mode & 0o777) == "0o600"
    assert "WEB_TAG='v1'" in dotenv.read_text().splitlines()
    record = json.loads(
        (Path(deploy.remote_dir) / ".dockyard" / "releases.jsonl").read_text().splitlines()[-1]
    )
    assert record["one_shot"] == ["init", "provision", "sync"]
    v1_ids = _ids(deploy)

    again = _deploy(deploy)
    assert again.report["flow_run_id"] == "", again.host()["notes"]
    assert again.host()["unchanged"] == ["shop"]
    assert _provisioned(deploy) == ["provision v1"], "no job rerun on a no-op"

    _set_release(deploy, "v2")
    second = _deploy(deploy)
    notes = "\n".join(second.host()["notes"])
    assert "shop: changed: the host runs release" in notes
    assert _provisioned(deploy) == ["provision v1", "provision v2"], "the job saw the new file"
    assert _ps(deploy)["web"]["Image"].endswith("/app:v2")
    v2_ids = _ids(deploy)
    assert v2_ids["cache"] == v1_ids["cache"] and v2_ids["web"] != v1_ids["web"]

    back = deploy.run("rollback")
    assert back.code == 0, back.stderr[-3000:]
    assert _ps(deploy)["web"]["Image"].endswith("/app:v1")
    after = _ids(deploy)
    assert after["cache"] == v2_ids["cache"], "rollback recreates only what differs"
    assert after["web"] != v2_ids["web"]
    assert "WEB_TAG='v1'" in dotenv.read_text().splitlines()
    assert not (Path(deploy.remote_dir) / ".dockyard" / "images.override.yml").exists()

    _set_release(deploy, "v1")
    noop = _deploy(deploy)
    assert noop.report["flow_run_id"] == "", noop.host()["notes"]
    assert _ids(deploy) == after


@pytest.mark.deploy_config.with_args(_tiny)
def test_a_directory_where_the_release_puts_a_file_stops_the_switch(deploy: Deploy) -> None:
    _use_tiny_bundle(deploy)
    blocked = Path(deploy.remote_dir) / "scripts" / "provision.sh"
    blocked.mkdir(parents=True)
    done = deploy.run("deploy", "--json")
    assert done.code != 0
    error = done.host()["error"]
    assert f"{blocked} is a directory where release" in error, error
    assert "nothing was changed" in error
    assert not (Path(deploy.remote_dir) / "docker-compose.yml").exists()
    assert blocked.is_dir() and not list(blocked.iterdir())
