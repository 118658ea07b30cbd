"""The lab's real parts answer: engine, registries, sshd with pinned keys, compose, fault proxy."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from dockyard.lab.catalog import lab_images
from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.images import MANIFEST_TYPE, build
from dockyard.lab.lab import Lab
from tests.integration.conftest import ssh

ONE_SERVICE = """
services:
  web:
    image: {image}
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health"]
      interval: 1s
      retries: 20
"""


def test_engine_answers_on_its_own_socket(lab: Lab) -> None:
    client = lab.engine_client()
    try:
        info = client.info()
    finally:
        client.close()
    assert info["Driver"] == "overlay2"
    assert info["DockerRootDir"] == str(lab.layout.docker_data)


def test_registry_serves_every_catalog_image_at_its_built_digest(lab: Lab) -> None:
    password = lab.registry_password()
    for spec in lab.pushed_images():
        host = (
            lab.layout.registry_auth_host if spec.registry == "auth" else lab.layout.registry_host
        )
        auth = ("dockyard", password) if spec.registry == "auth" else None
        built = build(spec)
        head = httpx.head(
            f"http://{host}/v2/{spec.repository}/manifests/{spec.tag or built.digest}",
            headers={"accept": MANIFEST_TYPE},
            auth=auth,
            timeout=10,
        )
        assert head.status_code == 200, spec
        assert head.headers["docker-content-digest"] == built.digest


def test_auth_registry_refuses_anonymous_and_wrong_password(lab: Lab) -> None:
    url = f"http://{lab.layout.registry_auth_host}/v2/dockyard/worker/manifests/1.0"
    assert httpx.head(url, timeout=10).status_code == 401
    assert httpx.head(url, auth=("dockyard", "wrong"), timeout=10).status_code == 401


def test_ssh_with_pinned_host_key_sees_engine_and_compose(lab: Lab) -> None:
    done = ssh(lab, "docker info --format '{{.DockerRootDir}}' && docker compose version --short")
    assert done.returncode == 0, done.stderr
    root, compose = done.stdout.split()
    assert root == str(lab.layout.docker_data)
    assert compose == "2.40.3"


def test_ssh_refuses_a_wrong_host_key(lab: Lab, tmp_path: Path) -> None:
    wrong = tmp_path / "known_hosts"
    other = (lab.layout.client_key.with_suffix(".pub")).read_text().split()[:2]
    wrong.write_text(f"[127.0.0.1]:{lab.layout.ports.ssh} {' '.join(other)}\n")
    done = ssh(lab, "echo ran", known_hosts=wrong)
    assert done.returncode == 255
    assert "ran" not in done.stdout
    assert "HOST IDENTIFICATION HAS CHANGED" in done.stderr or "verification failed" in done.stderr


def test_ssh_refuses_password_auth(lab: Lab) -> None:
    done = ssh(lab, "-o", "PubkeyAuthentication=no", "echo ran")
    assert done.returncode == 255
    assert "Permission denied" in done.stderr


def test_compose_runs_a_one_service_stack_to_healthy(lab: Lab) -> None:
    image = f"{lab.layout.registry_host}/dockyard/redis:7.2"
    remote = lab.layout.vm_root / "labtest"
    script = (
        f"mkdir -p {remote} && cd {remote} && cat > compose.yml <<'X'\n"
        f"{ONE_SERVICE.format(image=image)}\nX\n"
        "docker compose -p labtest up -d --wait --wait-timeout 60 && "
        "docker compose -p labtest ps --format '{{.Health}}'; rc=$?; "
        "docker compose -p labtest down -v --rmi all >/dev/null 2>&1; exit $rc"
    )
    done = ssh(lab, script, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "healthy"


def _idle_then_echo(port: int, idle: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        banner = conn.recv(256)
        assert banner.startswith(b"SSH-2.0-")
        time.sleep(idle)
        try:
            conn.sendall(b"SSH-2.0-probe\r\n")
            return conn.recv(256)
        except OSError:
            return b""


def test_idle_drop_closes_an_idle_ssh_connection_and_spares_a_busy_one(
    lab: Lab, proxy: ProxyControl
) -> None:
    proxy.set_faults("ssh", idle_drop=2.0)
    assert _idle_then_echo(lab.layout.ports.ssh, 3.0) == b""
    busy = ssh(lab, "for i in 1 2 3 4 5 6 7 8; do echo tick; sleep 0.5; done", timeout=60)
    assert busy.returncode == 0, busy.stderr
    assert busy.stdout.count("tick") == 8


def test_throttle_holds_a_registry_download_near_the_rate(lab: Lab, proxy: ProxyControl) -> None:
    built = build(lab_images()[0])
    layer = max(built.layers, key=lambda b: len(b.data))
    rate = 8 * 1024 * 1024
    proxy.set_faults("registry", throttle=rate)
    started = time.monotonic()
    got = httpx.get(
        f"http://{lab.layout.registry_host}/v2/dockyard/app/blobs/{layer.digest}",
        timeout=60,
        follow_redirects=True,
    )
    elapsed = time.monotonic() - started
    assert got.status_code == 200
    assert len(got.content) == len(layer.data)
    measured = len(layer.data) / elapsed
    assert rate * 0.8 <= measured <= rate * 1.2, f"{measured / 1e6:.2f} MB/s"
    stats = proxy.stats("registry")
    assert len(layer.data) <= stats["down"] <= len(layer.data) + 4096


@pytest.mark.parametrize("count", [2])
def test_http_503_answers_the_first_requests_of_one_image(
    lab: Lab, proxy: ProxyControl, count: int
) -> None:
    proxy.set_faults("registry", http_503={"count": count, "path": "/dockyard/redis/"})
    url = f"http://{lab.layout.registry_host}/v2/dockyard/redis/manifests/7.2"
    other = f"http://{lab.layout.registry_host}/v2/dockyard/postgres/manifests/15"
    headers = {"accept": MANIFEST_TYPE}
    codes = [httpx.head(url, headers=headers, timeout=10).status_code for _ in range(count + 1)]
    assert codes == [503] * count + [200]
    assert httpx.head(other, headers=headers, timeout=10).status_code == 200
