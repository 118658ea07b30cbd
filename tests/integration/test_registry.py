"""Registry client, pin and the pull's byte count against the lab's registries and fault proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from dockyard.deadline import Deadline
from dockyard.images.errors import ManifestUnknown, RegistryAuthError, RegistryUnavailable
from dockyard.images.facts import inspect_local_images
from dockyard.images.plan import PlanPolicy, plan_pulls
from dockyard.images.ref import ImageKind, ImageRef
from dockyard.images.registry import RegistryClient
from dockyard.lab.catalog import lab_images
from dockyard.lab.faultproxy import ProxyControl
from dockyard.lab.images import SyntheticImage, build
from dockyard.lab.lab import Lab
from dockyard.lab.registry import AUTH_USER
from dockyard.lint.compose import lint_compose
from dockyard.lint.pin import image_entries, pin_compose
from dockyard.pipeline.images import plan_stack, pull_on_host
from dockyard.session import DeployRequest, host_stack
from tests.integration.conftest import REPO
from tests.integration.deploykit import Deploy, app, migrator, release_vars

EXAMPLE = REPO / "examples" / "lab" / "stack" / "docker-compose.yml"
METRICS = "/dockyard/metrics/manifests/"
ROUTES = ("registry", "registry-auth")


@pytest.fixture
def registry(lab: Lab) -> Iterator[RegistryClient]:
    client = RegistryClient(
        {lab.layout.registry_auth_host: (AUTH_USER, lab.registry_password())}, timeout=10
    )
    yield client
    client.close()


def host_of(lab: Lab, spec: SyntheticImage) -> str:
    return lab.layout.registry_auth_host if spec.registry == "auth" else lab.layout.registry_host


def metrics_requests(proxy: ProxyControl) -> list[bool]:
    """answered_503 of each request the registry route saw for the metrics manifests."""
    return [r["answered_503"] for r in proxy.stats("registry")["requests"] if METRICS in r["path"]]


def test_manifest_digest_is_the_digest_the_lab_built(lab: Lab, registry: RegistryClient) -> None:
    for spec in lab_images():
        built = build(spec)
        name = f"{host_of(lab, spec)}/{spec.repository}"
        by_tag = ImageRef.parse(f"{name}:{spec.tag}" if spec.tag else name)
        assert registry.manifest_digest(by_tag) == built.digest, spec
        assert registry.manifest_digest(ImageRef.parse(f"{name}@{built.digest}")) == built.digest


def test_auth_registry_needs_credentials_and_never_shows_the_password(lab: Lab) -> None:
    password = lab.registry_password()
    ref = ImageRef.parse(f"{lab.layout.registry_auth_host}/dockyard/worker:1.0")
    with RegistryClient() as anonymous, pytest.raises(RegistryAuthError) as caught:
        anonymous.manifest_digest(ref)
    assert lab.layout.registry_auth_host in str(caught.value)
    assert "images.registries" in str(caught.value) and not caught.value.transient
    wrong = password[::-1] + "x"
    client = RegistryClient({lab.layout.registry_auth_host: (AUTH_USER, wrong)})
    with client, pytest.raises(RegistryAuthError, match="rejected") as rejected:
        client.manifest_digest(ref)
    for text in (str(caught.value), str(rejected.value), repr(rejected.value), repr(client)):
        assert password not in text and wrong not in text


def test_missing_tag_is_manifest_unknown_naming_the_image(
    lab: Lab, registry: RegistryClient
) -> None:
    image = f"{lab.layout.registry_host}/dockyard/app:v404"
    with pytest.raises(ManifestUnknown) as caught:
        registry.manifest_digest(ImageRef.parse(image))
    assert image in str(caught.value) and "does not exist" in str(caught.value)
    assert caught.value.transient is False


def test_503_is_transient_and_the_next_request_gets_the_digest(
    lab: Lab, proxy: ProxyControl, registry: RegistryClient
) -> None:
    ref = ImageRef.parse(f"{lab.layout.registry_host}/dockyard/metrics:2.0")
    proxy.set_faults("registry", http_503={"count": 1, "path": METRICS})
    with pytest.raises(RegistryUnavailable) as caught:
        registry.manifest_digest(ref)
    assert caught.value.transient is True and caught.value.status == 503
    digest = registry.manifest_digest(ref)
    assert (
        digest == build(next(s for s in lab_images() if s.repository == "dockyard/metrics")).digest
    )
    assert metrics_requests(proxy) == [True, False]


def test_pin_example_resolves_registry_digests_and_passes_lint(
    lab: Lab, registry: RegistryClient, tmp_path: Path
) -> None:
    original = EXAMPLE.read_text()
    pinned_text = pin_compose(EXAMPLE, registry.manifest_digest)
    assert EXAMPLE.read_text() == original
    pinned = tmp_path / "docker-compose.yml"
    pinned.write_text(pinned_text)
    assert [f.service for f in lint_compose(EXAMPLE, environ={}) if f.failing] == [
        "autoheal",
        "tools",
    ]
    findings = lint_compose(pinned, environ={})
    assert not [f for f in findings if f.failing]
    assert {f.service for f in findings} == {"app", "migrator"}
    built = {f"{host_of(lab, s)}/{s.repository}": build(s).digest
             for s in lab.pushed_images() if s.tag}  # fmt: skip
    checked = 0
    for entry in image_entries(pinned)[1]:
        if "$" in entry.value:
            continue
        ref = ImageRef.parse(entry.value)
        assert ref.digest is not None, entry.service
        unpinned = ImageRef.parse(f"{ref.name}:{ref.tag}" if ref.tag else ref.pull_ref)
        assert ref.digest == registry.manifest_digest(unpinned) == built[ref.name], entry.service
        checked += 1
    assert checked == 9


def test_plan_from_the_lab_engine_and_registry(lab: Lab, registry: RegistryClient) -> None:
    # Spelt via localhost, so the engine has none of these whatever other tests pulled.
    reg = f"localhost:{lab.layout.ports.registry}/dockyard"
    app, autoheal, postgres = f"{reg}/app:v2", f"{reg}/autoheal:latest", f"{reg}/postgres:15"
    engine = lab.engine_client()
    try:
        absent = f"{reg}/app:never-{uuid.uuid4().hex[:8]}"
        assert inspect_local_images(engine, [absent]) == {absent: None}
        services = {"app": app, "autoheal": autoheal, "db": postgres}
        local = inspect_local_images(engine, services.values())
        plan = plan_pulls(services, local, registry.manifest_digest, PlanPolicy(per_deploy={app}))
    finally:
        engine.close()
    rows = {d.services[0]: d for d in plan.decisions}
    digest = {s.repository: build(s).digest for s in lab_images() if s.tag in ("v2", "latest")}
    assert (rows["app"].kind, rows["app"].action) == (ImageKind.PER_DEPLOY, "pull")
    assert rows["app"].registry_digest == digest["dockyard/app"]
    assert rows["autoheal"].pull_ref == f"{reg}/autoheal@{digest['dockyard/autoheal']}"
    assert (rows["db"].action, rows["db"].registry_digest) == ("pull", None)
    assert [d.services for d in plan.to_verify()] == [("app",), ("autoheal",), ("db",)]


def test_cold_pull_bytes_match_what_the_registry_proxy_served(
    deploy: Deploy, proxy: ProxyControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan and pull steps as the deploy runs them (pulls in parallel, most fetched by the
    detached CLI pull, the auth registry's image through the API): each pulled image reports at
    least its own unique layer, and the total matches what the registry routes served within
    2%, although the images share their base layer."""
    for name in ("DB_PASSWORD", "LAB_REGISTRY_PASSWORD"):
        monkeypatch.setenv(name, deploy.env[name])
    deploy.forget_images(app("v3"), migrator("v3"))
    hs = host_stack(DeployRequest(str(deploy.config), release_vars("v3")), "vm1", "shop")
    to_pull = plan_stack(hs, Deadline("plan", 300)).plan.to_pull()
    for route in ROUTES:
        proxy.reset_stats(route)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda d: pull_on_host(hs, d, Deadline("pull", 300)), to_pull))
    served = sum(proxy.stats(route)["down"] for route in ROUTES)
    pulled = {d.image: r.bytes for d, r in zip(to_pull, results, strict=True)}
    unique = {app("v3"): 6 * 1024 * 1024, migrator("v3"): 4 * 1024 * 1024}
    for image, size in unique.items():
        assert pulled[image] >= size, pulled
    assert abs(sum(pulled.values()) - served) <= 0.02 * served, (pulled, served)
