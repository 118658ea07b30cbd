"""Synthetic lab images are reproducible, and the example stack pins the digests they build to."""

from __future__ import annotations

import re
from pathlib import Path

from dockyard.lab.catalog import lab_images, service
from dockyard.lab.images import build

EXAMPLE = Path(__file__).resolve().parents[3] / "examples/lab/stack/docker-compose.yml"


def test_same_spec_builds_the_same_digest_and_sizes() -> None:
    first = [build(spec) for spec in lab_images()]
    again = [build(spec) for spec in lab_images()]
    assert [b.digest for b in first] == [b.digest for b in again]
    assert len({b.digest for b in first}) == len(first)
    app = first[0]
    assert 30 * 1024 * 1024 < app.size < 34 * 1024 * 1024


def test_example_stack_pins_the_digests_the_lab_builds() -> None:
    text = EXAMPLE.read_text()
    pins = dict(re.findall(r"dockyard/(\w+)(?::[\w.]+)?@(sha256:[0-9a-f]{64})", text))
    assert pins == {
        "nginx": build(service("nginx", "1.25", 2)).digest,
        "gateway": build(service("gateway", "2.4", 2)).digest,
    }, "lab images changed: re-pin examples/lab/stack/docker-compose.yml to the new digests"


def test_app_versions_share_their_dependency_layer() -> None:
    v1, v2 = (build(spec) for spec in lab_images()[:2])
    differing = [a.digest for a, b in zip(v1.layers, v2.layers, strict=True) if a != b]
    assert len(differing) == 1
    assert v1.digest != v2.digest
