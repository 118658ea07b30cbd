"""The verify step body against a registry on loopback (a minimal v2 API in a thread): every
image the plan pulls is asked of its registry before the host is touched; a missing one stops
the deploy naming the image, its service and the fix."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dockyard.deadline import Deadline
from dockyard.images.errors import ImageMissing
from dockyard.images.plan import plan_pulls
from dockyard.pipeline.images import verify_in_registry
from tests.fakes import FakeRunner
from tests.unit.stackkit import stack_on

PRESENT = "sha256:" + "b2" * 32


class Registry(BaseHTTPRequestHandler):
    """Serves the manifest of app:v2 only; records every path asked."""

    asked: list[str] = []

    def do_HEAD(self) -> None:
        self.asked.append(self.path)
        found = self.path == "/v2/app/manifests/v2"
        self.send_response(200 if found else 404)
        if found:
            self.send_header("Docker-Content-Digest", PRESENT)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    Registry.asked = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_every_image_to_pull_is_asked_of_its_registry(registry: str, tmp_path: Path) -> None:
    plan = plan_pulls({"app": f"{registry}/app:v2"}, [], {f"{registry}/app:v2": PRESENT})
    host = FakeRunner()
    checked = verify_in_registry(stack_on(host, tmp_path), plan, Deadline("verify", 30))
    assert checked == [f"{registry}/app:v2"] and "/v2/app/manifests/v2" in Registry.asked
    assert host.asked == []  # the host is not touched


def test_a_missing_image_stops_the_deploy_naming_it(registry: str, tmp_path: Path) -> None:
    image = f"{registry}/app:v9"
    plan = plan_pulls({"web": image}, [], {image: PRESENT})
    with pytest.raises(ImageMissing, match=r"app:v9 \(service web\) cannot be pulled.*push"):
        verify_in_registry(stack_on(FakeRunner(), tmp_path), plan, Deadline("verify", 30))
