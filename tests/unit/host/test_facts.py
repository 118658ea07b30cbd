"""The host-facts script as text, and its parser on captured output (engine, images, stack)."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from dockyard.commands.facts import FILE_CAP, host_facts, stack_containers
from dockyard.commands.hoststate.paths import HostState
from dockyard.host.facts import Disk, FactsError, parse

STATE = HostState("/srv/shop app")
APP_ID = "sha256:" + "0a" * 32
DIGEST = "127.0.0.1:5000/dockyard/app@sha256:" + "a1" * 32
RELEASE = {"id": "r-1", "result": "succeeded", "images": {"app": DIGEST}}

# What the script printed on the lab VM for a stack with one app and a finished job (trimmed).
CAPTURED = json.dumps({
    "facts": 1, "docker": "20.10.24+dfsg1", "compose": "2.24.7",
    "root_dir": "/var/lib/docker", "df": {"size_kb": 1000, "avail_kb": 250},
    "images": [{"id": APP_ID, "tags": ["127.0.0.1:5000/dockyard/app:1.2"], "digests": [DIGEST]},
               {"id": "sha256:" + "0b" * 32, "tags": None, "digests": None}],
    "containers": [
        {"name": "/shop-app-1", "image": APP_ID, "state": "running", "exit_code": 0,
         "health": "healthy", "labels": {"com.docker.compose.service": "app",
                                         "com.docker.compose.config-hash": "c" * 64}},
        {"name": "/shop-migrate-1", "image": "sha256:" + "0b" * 32, "state": "exited",
         "exit_code": 0, "health": "", "labels": {"com.docker.compose.service": "migrate"}},
    ],
    "lock": base64.b64encode(b'{"owner": "ci"}').decode(),
    "attempt": None,
    "release_head": base64.b64encode(json.dumps(RELEASE).encode() + b"\n").decode(),
})  # fmt: skip


def test_the_script_is_one_sh_script_quoting_the_paths_and_filtering_the_project() -> None:
    script = host_facts("shop", STATE)
    assert subprocess.run(["sh", "-n"], input=script, text=True, timeout=10).returncode == 0
    assert "--filter label=com.docker.compose.project=shop" in script
    assert "'/srv/shop app/.dockyard/lock'" in script
    assert "tail -n 1 '/srv/shop app/.dockyard/releases.jsonl'" in script
    assert f"head -c {FILE_CAP} | base64" in script
    assert "{{json .RepoDigests}}" in script and "{{json .Config.Labels}}" in script


def test_the_script_prints_json_with_nulls_where_the_host_has_nothing(tmp_path) -> None:
    """Run with no reachable engine and no state files: each fact null or empty, still JSON."""
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = subprocess.run(["sh"], input=host_facts("shop", HostState(str(tmp_path))), text=True,
                          capture_output=True, env=env, timeout=30)  # fmt: skip
    facts = parse(done.stdout, "vm1")
    assert (facts.docker_version, facts.root_dir, facts.disk) == (None, None, None)
    assert (facts.images, facts.containers) == ((), ())
    assert (facts.lock, facts.attempt, facts.release_head) == (None, None, None)


def test_the_stack_read_after_up_is_the_stack_s_containers_and_their_images_only(tmp_path) -> None:
    script = stack_containers("shop")
    assert subprocess.run(["sh", "-n"], input=script, text=True, timeout=10).returncode == 0
    assert "--filter label=com.docker.compose.project=shop | xargs -r docker inspect" in script
    assert ".dockyard" not in script and "docker version" not in script and "df -Pk" not in script
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}
    done = subprocess.run(["sh"], input=script, text=True, capture_output=True, env=env,
                          timeout=30)  # fmt: skip
    facts = parse(done.stdout, "vm1")
    assert (facts.images, facts.containers, facts.docker_version, facts.lock) == (
        (),
        (),
        None,
        None,
    )


def test_parser_reads_engine_disk_images_and_containers_with_their_digests() -> None:
    facts = parse(CAPTURED, "vm1")
    assert (facts.docker_version, facts.compose_version) == ("20.10.24+dfsg1", "2.24.7")
    assert facts.disk == Disk(1000 * 1024, 250 * 1024)
    assert facts.image(APP_ID).repo_digests == (DIGEST,)
    assert facts.images[1].repo_tags == () and facts.images[1].repo_digests == ()
    app, job = facts.containers
    assert (app.name, app.service, app.health) == ("shop-app-1", "app", "healthy")
    assert app.config_hash == "c" * 64
    assert app.runs(DIGEST) and (job.state, job.exit_code, job.config_hash) == ("exited", 0, "")
    assert facts.lock == '{"owner": "ci"}' and facts.attempt is None
    assert facts.release_head == RELEASE


@pytest.mark.parametrize(
    ("output", "says"),
    [
        ("Welcome to vm1\n{}", "printed no JSON document"),
        ('{"facts": 99}', "not version 1"),
        ('{"facts": 1, "images": [{"tags": []}], "containers": []}', r"malformed \(KeyError"),
        ('{"facts": 1, "images": [], "containers": [], "lock": "@@"}', "lock is not base64"),
        (
            '{"facts": 1, "images": [], "containers": [], "release_head": "bm90IGpzb24="}',
            "releases.jsonl is not a release record",
        ),
    ],
)
def test_bad_output_is_a_facts_error_naming_the_host(output: str, says: str) -> None:
    with pytest.raises(FactsError, match=f"^vm1: .*{says}"):
        parse(output, "vm1")
