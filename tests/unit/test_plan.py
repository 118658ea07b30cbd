"""Pure tests of the pull plan: every rule and override, dedupe, JSON, profiles, input gathering."""

from __future__ import annotations

import json
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from dockyard.config import DeployConfig
from dockyard.images.facts import inspect_local_images
from dockyard.images.plan import (
    ImageDecision,
    LocalImage,
    PlanInputError,
    PlanPolicy,
    PullPlan,
    plan_pulls,
    services_from_compose_json,
)
from dockyard.images.ref import ImageKind, ImageRef

R = "127.0.0.1:5000/dockyard"
OLD = "sha256:" + "0123456789abcdef" * 4
NEW = "sha256:" + "fedcba9876543210" * 4
PIN = "sha256:" + "ab" * 32


class Registry:
    """A fake digest source that records what it was asked."""

    def __init__(self, digests: Mapping[str, str] | None = None) -> None:
        self.digests = dict(digests or {})
        self.asked: list[str] = []

    def __call__(self, ref: ImageRef) -> str:
        self.asked.append(ref.familiar)
        return self.digests[ref.familiar]


def never_asked(ref: ImageRef) -> str:
    raise AssertionError(f"the registry was asked for {ref}")


def local(image: str, tags: tuple[str, ...] = (), digests: tuple[str, ...] = ()) -> LocalImage:
    return LocalImage("sha256:" + str(abs(hash(image))).rjust(64, "0"), tags, digests)


def one(plan: PullPlan) -> ImageDecision:
    assert len(plan.decisions) == 1, plan
    return plan.decisions[0]


# --- digest-pinned ------------------------------------------------------------------------


def test_pinned_digest_present_is_skipped_without_asking_the_registry() -> None:
    image = f"{R}/gateway@{PIN}"
    plan = plan_pulls({"gateway": image}, {image: local(image, digests=(image,))}, never_asked)
    d = one(plan)
    assert (d.kind, d.action, d.reason) == (ImageKind.DIGEST, "skip", "present (pinned digest)")
    assert not d.verify and plan.to_verify() == ()


def test_pinned_digest_absent_is_pulled_by_digest_and_verified() -> None:
    image = f"{R}/nginx:1.25@{PIN}"
    d = one(plan_pulls({"proxy": image}, {image: None}, never_asked))
    assert (d.kind, d.action, d.pull_ref) == (ImageKind.DIGEST, "pull", f"{R}/nginx@{PIN}")
    assert d.reason == "absent" and d.verify and d.tag_as is None


def test_tag_at_digest_is_present_when_repo_digests_hold_the_digest() -> None:
    image = f"{R}/nginx:1.25@{PIN}"
    other = local("x", tags=(f"{R}/nginx:1.25",), digests=(f"{R}/nginx@{OLD}",))
    pinned = local("y", digests=(f"{R}/nginx@{PIN}",))
    assert one(plan_pulls({"p": image}, [other], never_asked)).action == "pull"
    assert one(plan_pulls({"p": image}, [other, pinned], never_asked)).action == "skip"


# --- version tags -------------------------------------------------------------------------


def test_version_tag_present_is_skipped_and_absent_is_pulled_by_tag() -> None:
    image = f"{R}/postgres:15"
    present = one(plan_pulls({"db": image}, [local(image, tags=(image,))], never_asked))
    absent = one(plan_pulls({"db": image}, [], never_asked))
    assert (present.kind, present.action, present.reason) == (
        ImageKind.VERSION,
        "skip",
        "present (version tag 15)",
    )
    assert (absent.action, absent.pull_ref, absent.registry_digest) == ("pull", image, None)


def test_a_tag_of_another_repository_does_not_count_as_present() -> None:
    image = f"{R}/postgres:15"
    decoy = local("d", tags=(f"{R}/postgres-old:15", f"{R}/postgres:14"))
    assert one(plan_pulls({"db": image}, [decoy], never_asked)).action == "pull"


# --- mutable tags -------------------------------------------------------------------------


def test_mutable_tag_unchanged_at_registry_is_skipped_after_one_registry_call() -> None:
    image = f"{R}/autoheal:latest"
    registry = Registry({image: OLD})
    have = local(image, tags=(image,), digests=(f"{R}/autoheal@{OLD}",))
    d = one(plan_pulls({"autoheal": image}, [have], registry))
    assert (d.kind, d.action, d.registry_digest) == (ImageKind.MUTABLE, "skip", OLD)
    assert d.reason.startswith("unchanged at registry")
    assert registry.asked == [image]


def test_mutable_tag_changed_at_registry_is_pulled_by_digest_and_retagged() -> None:
    image = f"{R}/autoheal:latest"
    have = local(image, tags=(image,), digests=(f"{R}/autoheal@{OLD}",))
    d = one(plan_pulls({"autoheal": image}, [have], Registry({image: NEW})))
    assert d.action == "pull"
    assert d.pull_ref == f"{R}/autoheal@{NEW}"
    assert d.tag_as == f"{R}/autoheal:latest"
    assert (
        d.reason == "registry digest sha256:fedcba987654… differs from local sha256:0123456789ab…"
    )
    assert d.verify and d.registry_digest == NEW


def test_mutable_tag_absent_is_pulled_by_the_registry_digest() -> None:
    image = f"{R}/autoheal:latest"
    d = one(plan_pulls({"autoheal": image}, {image: None}, Registry({image: NEW})))
    assert (d.action, d.pull_ref, d.tag_as) == ("pull", f"{R}/autoheal@{NEW}", image)


def test_local_image_without_a_digest_from_that_repository_is_pulled() -> None:
    image = f"{R}/autoheal:latest"
    built = local(image, tags=(image,), digests=(f"{R}/elsewhere@{NEW}",))
    d = one(plan_pulls({"autoheal": image}, [built], Registry({image: NEW})))
    assert d.action == "pull"
    assert "no digest from" in d.reason


def test_no_tag_is_mutable_and_is_compared_as_latest() -> None:
    image = f"{R}/busybox"
    have = local(image, tags=(f"{R}/busybox:latest",), digests=(f"{R}/busybox@{OLD}",))
    d = one(plan_pulls({"tools": image}, [have], Registry({f"{R}/busybox:latest": OLD})))
    assert (d.kind, d.action, d.image) == (ImageKind.MUTABLE, "skip", image)


def test_moving_tags_from_the_policy_add_to_the_floating_tags() -> None:
    image = f"{R}/redis:prod"
    have = [local(image, tags=(image,), digests=(f"{R}/redis@{OLD}",))]
    as_version = one(plan_pulls({"r": image}, have, never_asked))
    policy = PlanPolicy(moving_tags={"prod"})
    as_moving = one(plan_pulls({"r": image}, have, Registry({image: NEW}), policy))
    assert (as_version.kind, as_version.action) == (ImageKind.VERSION, "skip")
    assert (as_moving.kind, as_moving.action) == (ImageKind.MUTABLE, "pull")


@pytest.mark.parametrize("tag", ["stable", "master", "develop", "canary", "lts", "stable-alpine"])
def test_a_floating_tag_that_moved_is_pulled_without_any_config(tag: str) -> None:
    image = f"{R}/redis:{tag}"
    have = [local(image, tags=(image,), digests=(f"{R}/redis@{OLD}",))]
    moved = one(plan_pulls({"r": image}, have, Registry({image: NEW})))
    assert (moved.kind, moved.action, moved.pull_ref) == (
        ImageKind.MUTABLE, "pull", f"{R}/redis@{NEW}",
    )  # fmt: skip
    assert moved.tag_as == image and "differs from local" in moved.reason
    same = one(plan_pulls({"r": image}, have, Registry({image: OLD})))
    assert (same.action, same.registry_digest) == ("skip", OLD)


# --- per-deploy ---------------------------------------------------------------------------


def test_per_deploy_absent_is_pulled_after_checking_the_registry() -> None:
    image = f"{R}/app:v2"
    registry = Registry({image: NEW})
    plan = plan_pulls({"app": image}, {image: None}, registry, PlanPolicy(per_deploy={image}))
    d = one(plan)
    assert (d.kind, d.action, d.registry_digest, d.pull_ref) == (
        ImageKind.PER_DEPLOY,
        "pull",
        NEW,
        image,
    )
    assert registry.asked == [image]
    assert plan.to_verify() == (d,)


def test_per_deploy_present_is_verify_only() -> None:
    image = f"{R}/app:v2"
    have = [local(image, tags=(image,), digests=(f"{R}/app@{NEW}",))]
    plan = plan_pulls({"app": image}, have, Registry({image: NEW}), PlanPolicy(per_deploy={image}))
    d = one(plan)
    assert (d.action, d.verify) == ("verify", True)
    assert "nothing to download" in d.reason and plan.to_pull() == ()


def test_per_deploy_matches_however_the_reference_is_spelt() -> None:
    policy = PlanPolicy(per_deploy={"docker.io/library/app:v2"})
    d = one(plan_pulls({"app": "app:v2"}, [], Registry({"app:v2": NEW}), policy))
    assert d.kind is ImageKind.PER_DEPLOY


def test_per_deploy_with_a_moving_tag_is_compared_by_digest() -> None:
    image = f"{R}/app:latest"
    have = [local(image, tags=(image,), digests=(f"{R}/app@{OLD}",))]
    policy = PlanPolicy(per_deploy={image})
    changed = one(plan_pulls({"app": image}, have, Registry({image: NEW}), policy))
    same = one(plan_pulls({"app": image}, have, Registry({image: OLD}), policy))
    assert (changed.kind, changed.action, changed.pull_ref) == (
        ImageKind.PER_DEPLOY,
        "pull",
        f"{R}/app@{NEW}",
    )
    assert (same.action, same.verify) == ("verify", True)


def test_per_deploy_missing_in_the_registry_fails_the_plan() -> None:
    class Missing(Exception):
        pass

    def registry(ref: ImageRef) -> str:
        raise Missing(ref.familiar)

    with pytest.raises(Missing, match="app:v9"):
        plan_pulls({"app": f"{R}/app:v9"}, [], registry, PlanPolicy(per_deploy={f"{R}/app:v9"}))


# --- overrides ----------------------------------------------------------------------------


def test_override_always_pulls_a_present_image() -> None:
    image = f"{R}/worker:1.0"
    policy = PlanPolicy(overrides={"worker": "always"})
    d = one(plan_pulls({"worker": image}, [local(image, tags=(image,))], never_asked, policy))
    assert (d.action, d.pull_ref, d.verify) == ("pull", image, True)
    assert d.reason == "pull: always (override for service worker)"


def test_override_never_skips_even_an_absent_mutable_image_without_the_registry() -> None:
    image = f"{R}/autoheal:latest"
    policy = PlanPolicy(overrides={"autoheal": "never"})
    d = one(plan_pulls({"autoheal": image}, [], never_asked, policy))
    assert d.action == "skip" and not d.verify
    assert d.reason.startswith("pull: never (override for service autoheal)")
    assert "absent" in d.reason


def test_override_missing_skips_a_present_mutable_image_without_the_registry() -> None:
    image = f"{R}/autoheal:latest"
    policy = PlanPolicy(overrides={"autoheal": "missing"})
    present = one(
        plan_pulls({"autoheal": image}, [local(image, tags=(image,))], never_asked, policy)
    )
    absent = one(plan_pulls({"autoheal": image}, [], never_asked, policy))
    assert present.action == "skip" and "pull: missing (override for service autoheal)" in (
        present.reason
    )
    assert (absent.action, absent.pull_ref) == ("pull", image)


def test_override_changed_compares_a_version_tag_with_the_registry() -> None:
    image = f"{R}/redis:7.2"
    have = [local(image, tags=(image,), digests=(f"{R}/redis@{OLD}",))]
    policy = PlanPolicy(overrides={"redis": "changed"})
    same = one(plan_pulls({"redis": image}, have, Registry({image: OLD}), policy))
    moved = one(plan_pulls({"redis": image}, have, Registry({image: NEW}), policy))
    assert (same.kind, same.action) == (ImageKind.VERSION, "skip")
    assert "override for service redis" in same.reason
    assert (moved.action, moved.pull_ref) == ("pull", f"{R}/redis@{NEW}")


def test_override_changed_on_a_pinned_digest_pulls_only_if_absent() -> None:
    image = f"{R}/gateway@{PIN}"
    policy = PlanPolicy(overrides={"gateway": "changed"})
    d = one(plan_pulls({"gateway": image}, [local(image, digests=(image,))], never_asked, policy))
    assert d.action == "skip"


# --- dedupe -------------------------------------------------------------------------------


def test_services_sharing_an_image_get_one_decision_and_one_registry_call() -> None:
    services = {"a": "busybox", "b": "docker.io/library/busybox:latest", "c": "postgres:15"}
    registry = Registry({"busybox:latest": NEW})
    plan = plan_pulls(services, [], registry)
    assert [d.services for d in plan.decisions] == [("a", "b"), ("c",)]
    assert plan.decisions[0].service == "a, b"
    assert registry.asked == ["busybox:latest"]


def test_shared_image_takes_the_most_demanding_policy() -> None:
    image = f"{R}/redis:7.2"
    have = [local(image, tags=(image,))]
    services = {"cache": image, "queue": image}
    never_and_default = PlanPolicy(overrides={"cache": "never"})
    always_and_default = PlanPolicy(overrides={"queue": "always"})
    assert one(plan_pulls(services, [], never_asked, never_and_default)).action == "pull"
    d = one(plan_pulls(services, have, never_asked, always_and_default))
    assert (d.action, d.reason) == ("pull", "pull: always (override for service queue)")


# --- outputs ------------------------------------------------------------------------------


def incident_plan() -> PullPlan:
    services = {
        "app": f"{R}/app:v3",
        "postgres": f"{R}/postgres:15",
        "autoheal": f"{R}/autoheal:latest",
        "gateway": f"{R}/gateway@{PIN}",
    }
    have = [
        local("pg", tags=(f"{R}/postgres:15",)),
        local("ah", tags=(f"{R}/autoheal:latest",), digests=(f"{R}/autoheal@{OLD}",)),
    ]
    registry = Registry({f"{R}/app:v3": NEW, f"{R}/autoheal:latest": OLD})
    return plan_pulls(services, have, registry, PlanPolicy(per_deploy={f"{R}/app:v3"}))


def test_to_json_has_the_documented_fields_and_values() -> None:
    rows = json.loads(json.dumps(incident_plan().to_json()))
    assert [(r["service"], r["kind"], r["action"]) for r in rows] == [
        ("app", "per-deploy", "pull"),
        ("postgres", "version", "skip"),
        ("autoheal", "mutable", "skip"),
        ("gateway", "digest", "pull"),
    ]
    for row in rows:
        assert {"service", "image", "kind", "action", "reason"} <= set(row)
        assert row["reason"]
    assert rows[0]["image"] == f"{R}/app:v3" and rows[0]["registry_digest"] == NEW


def test_to_verify_lists_per_deploy_and_pulled_images_only() -> None:
    plan = incident_plan()
    assert [d.services for d in plan.to_verify()] == [("app",), ("gateway",)]
    assert [d.services for d in plan.to_pull()] == [("app",), ("gateway",)]


def test_plan_survives_pickling_for_task_results() -> None:
    plan = incident_plan()
    assert pickle.loads(pickle.dumps(plan)) == plan


def test_local_images_as_a_mapping_or_a_list_give_the_same_plan() -> None:
    image = f"{R}/autoheal:latest"
    have = local(image, tags=(image,), digests=(f"{R}/autoheal@{OLD}",))
    by_map = plan_pulls({"a": image, "b": "x:1"}, {image: have, "x:1": None}, {image: NEW})
    by_list = plan_pulls({"a": image, "b": "x:1"}, [have], {image: NEW})
    assert by_map == by_list
    assert [d.action for d in by_map.decisions] == ["pull", "pull"]


def test_digest_mapping_without_the_needed_image_is_an_input_error() -> None:
    with pytest.raises(PlanInputError, match="no registry digest was given for busybox:latest"):
        plan_pulls({"tools": "busybox"}, [], {"other:latest": NEW})


def test_invalid_image_names_the_service() -> None:
    with pytest.raises(PlanInputError, match="service web"):
        plan_pulls({"web": "Not/Valid:"}, [], never_asked)


# --- compose config -----------------------------------------------------------------------

COMPOSE_JSON = {
    "name": "shop",
    "services": {
        "app": {"image": "app:v1", "networks": {"default": None}},
        "migrator": {"image": "mig:v1", "profiles": ["jobs"]},
        "metrics": {"image": "metrics:2.0", "profiles": ["monitoring", "debug"]},
        "builder": {"build": {"context": "."}},
    },
}


@pytest.mark.parametrize(
    ("profiles", "extra", "expected"),
    [
        ((), (), ["app"]),
        (("monitoring",), (), ["app", "metrics"]),
        (("debug",), ("migrator",), ["app", "migrator", "metrics"]),
        (("*",), (), ["app", "migrator", "metrics"]),
    ],
)
def test_services_from_compose_json_follows_profiles_and_jobs(
    profiles: tuple[str, ...], extra: tuple[str, ...], expected: list[str]
) -> None:
    services = services_from_compose_json(COMPOSE_JSON, profiles, extra)
    assert list(services) == expected
    assert services["app"] == "app:v1"


def test_services_from_compose_json_reads_text_and_rejects_unknown_jobs() -> None:
    text = json.dumps(COMPOSE_JSON)
    assert services_from_compose_json(text) == {"app": "app:v1"}
    with pytest.raises(PlanInputError, match="seed"):
        services_from_compose_json(text, extra_services=["seed"])
    with pytest.raises(PlanInputError, match="no services"):
        services_from_compose_json("{}")


def test_policy_from_config(tmp_path: Path) -> None:
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "docker-compose.yml").write_text("services: {}\n")
    config = DeployConfig.model_validate(
        {
            "targets": [
                {
                    "name": "vm1",
                    "host": "127.0.0.1",
                    "agent": True,
                    "host_key": "ssh-ed25519 "
                    "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
                }
            ],
            "stacks": [
                {
                    "project": "shop",
                    "bundle": "stack",
                    "remote_dir": "/opt/shop",
                    "env": {"APP_IMAGE": "r.io/app:v2"},
                }
            ],
            "images": {
                "per_deploy": ["APP_IMAGE"],
                "moving_tags": ["latest", "stable"],
                "services": {"worker": {"pull": "always"}},
            },
        },
        context={"base_dir": tmp_path, "environ": {"SSH_AUTH_SOCK": "/nowhere"}},
    )
    policy = PlanPolicy.from_config(config, "shop")
    assert set(policy.per_deploy) == {"r.io/app:v2"}
    assert set(policy.moving_tags) == {"latest", "stable"}
    assert policy.overrides == {"worker": "always"}
    assert PlanPolicy.from_config(config, "other").per_deploy == frozenset()


# --- gathering inputs from a docker-py client ---------------------------------------------


class FakeApi:
    def __init__(self, images: Mapping[str, dict[str, Any]]) -> None:
        self.images = images
        self.calls: list[str] = []

    def inspect_image(self, image: str) -> dict[str, Any]:
        self.calls.append(image)
        if image not in self.images:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        return self.images[image]


class FakeClient:
    def __init__(self, api: FakeApi) -> None:
        self.api = api


def test_inspect_local_images_maps_not_found_to_absent_with_one_call_per_image() -> None:
    image = f"{R}/autoheal:latest"
    api = FakeApi({image: {"Id": "sha256:1", "RepoTags": [image], "RepoDigests": None}})
    found = inspect_local_images(FakeClient(api), [image, "x:1", image])
    assert found == {image: LocalImage("sha256:1", (image,), ()), "x:1": None}
    assert api.calls == [image, "x:1"]


def test_plan_from_inspected_local_images_asks_the_registry_for_the_moving_tag() -> None:
    image = f"{R}/autoheal:latest"
    api = FakeApi(
        {image: {"Id": "sha256:1", "RepoTags": [image], "RepoDigests": [f"{R}/autoheal@{OLD}"]}}
    )
    local = inspect_local_images(FakeClient(api), [image])
    plan = plan_pulls({"autoheal": image}, local, Registry({image: OLD}))
    assert one(plan).action == "skip"


@pytest.mark.parametrize("image", ["temporalio/auto-setup:", "Bad/Name:1"])
def test_an_invalid_image_in_the_resolved_config_is_a_clear_deploy_error(image: str) -> None:
    from dockyard.errors import DockyardError

    config = {"services": {"temporal": {"image": image}, "db": {"image": "postgres:16"}}}
    with pytest.raises(PlanInputError) as caught:
        services_from_compose_json(config)
    assert isinstance(caught.value, DockyardError)
    text = str(caught.value)
    assert f"service temporal: image {image!r}" in text and "nothing was changed" in text
