"""The diff's comparison: every service action, config keys, env `+ - ~`, files, changed."""

from __future__ import annotations

from dockyard.diff.compare import (
    EnvChange,
    FileChange,
    LiveService,
    Snapshot,
    compare,
    config_keys,
    env_changes,
    file_changes,
    same_image,
)

OLD = "reg/app@sha256:" + "a" * 64
NEW = "reg/app@sha256:" + "b" * 64
WEB = {"image": "reg/app:v1", "environment": {"A": "1", "B": "2"}, "ports": [80]}


def live(**kw: object) -> Snapshot:
    base: dict[str, object] = {
        "release": "r-old",
        "services": {"web": WEB, "app": {"image": "reg/app:v1"}, "gone": {"image": "x:1"},
                     "migrator": {"image": "reg/app:v1"}},
        "images": {"web": OLD, "app": OLD, "gone": "x@sha256:" + "c" * 64, "migrator": OLD},
        "running": {n: LiveService(OLD) for n in ("web", "app", "gone")},
    }  # fmt: skip
    return Snapshot(**{**base, **kw})  # type: ignore[arg-type]


def nxt(**kw: object) -> Snapshot:
    base: dict[str, object] = {
        "release": "r-new",
        "services": {"web": {**WEB, "environment": {"A": "1", "B": "3"}},
                     "app": {"image": "reg/app:v2"}, "new": {"image": "y:1"},
                     "migrator": {"image": "reg/app:v2"}},
        "images": {"web": OLD, "app": NEW, "new": "y@sha256:" + "d" * 64, "migrator": NEW},
    }  # fmt: skip
    return Snapshot(**{**base, **kw})  # type: ignore[arg-type]


def rows(diff: object) -> dict[str, tuple[str, object, tuple[str, ...], bool]]:
    return {s.service: (s.action, s.image, s.keys, s.job) for s in diff.services}  # type: ignore[attr-defined]


def test_every_service_action_and_why() -> None:
    diff = compare("vm1", "shop", live(), nxt(), {"migrate": "migrator"}, frozenset())
    assert rows(diff) == {
        "app": ("recreate", (OLD, NEW), (), False),
        "gone": ("remove", None, (), False),
        "migrator": ("recreate", (OLD, NEW), (), True),
        "new": ("create", None, (), False),
        "web": ("recreate", None, ("environment.B",), False),
    }
    assert diff.changed and diff.jobs == ("migrate",)
    assert diff.release_from == "r-old" and diff.release_to == "r-new"


def test_same_config_and_digest_is_unchanged_and_no_change_overall() -> None:
    same = live(services={"web": WEB}, images={"web": OLD}, running={"web": LiveService(OLD)})
    diff = compare("vm1", "shop", same, nxt(release="r-old", services={"web": WEB},
                                            images={"web": OLD}), {}, frozenset())  # fmt: skip
    assert rows(diff) == {"web": ("unchanged", None, (), False)}
    assert not diff.changed
    assert diff.to_json()["changed"] is False and diff.to_json()["jobs"] == []


def test_drifted_or_stopped_container_is_recreated_or_created() -> None:
    state = live(services={"web": WEB}, images={"web": OLD},
                 running={"web": LiveService(OLD, drifted=True)})  # fmt: skip
    again = nxt(release="r-old", services={"web": WEB}, images={"web": OLD})
    assert rows(compare("h", "p", state, again, {}, frozenset()))["web"][0] == "recreate"
    stopped = live(services={"web": WEB}, images={"web": OLD},
                   running={"web": LiveService(OLD, running=False)})  # fmt: skip
    assert rows(compare("h", "p", stopped, again, {}, frozenset()))["web"][0] == "create"


def test_first_deploy_creates_everything() -> None:
    diff = compare("h", "p", Snapshot(None), nxt(), {}, frozenset())
    assert {s.action for s in diff.services} == {"create"}
    assert diff.release_from is None and diff.changed


def test_config_keys_skip_what_compose_does_not_hash_and_the_image() -> None:
    old = {"image": "a:1", "depends_on": {"db": {}}, "command": ["x"], "labels": {"k": "1"}}
    new = {"image": "a:2", "depends_on": {}, "command": ["y"], "labels": {"k": "2"},
           "ports": [1]}  # fmt: skip
    assert config_keys(old, new) == ("command", "labels.k", "ports")
    assert config_keys(None, new) == ("(no recorded config of the live release)",)


def test_env_changes_keep_no_secret_value() -> None:
    old = {"KEEP": "1", "GONE": "x", "LEVEL": "info", "DB_PASSWORD": "old-pw"}
    new = {"KEEP": "1", "NEW": "y", "LEVEL": "debug", "DB_PASSWORD": "new-pw", "TOKEN": "t"}
    got = env_changes(old, new, frozenset({"DB_PASSWORD", "TOKEN"}))
    assert got == (
        EnvChange("DB_PASSWORD", "~", True),
        EnvChange("GONE", "-", False, "x", None),
        EnvChange("LEVEL", "~", False, "info", "debug"),
        EnvChange("NEW", "+", False, None, "y"),
        EnvChange("TOKEN", "+", True),
    )


def test_file_changes_by_sha256() -> None:
    old = {"a.conf": "1", "b.conf": "2", "c.conf": "3"}
    new = {"a.conf": "1", "b.conf": "9", "d.conf": "4"}
    want = (FileChange("b.conf", "~"), FileChange("c.conf", "-"), FileChange("d.conf", "+"))
    assert file_changes(old, new) == want


def test_same_image_by_digest() -> None:
    assert same_image(OLD, "other/name@sha256:" + "a" * 64)
    assert not same_image(OLD, NEW)
    assert same_image("sha256:" + "a" * 64, OLD)


def test_a_changed_file_a_service_reads_is_its_config_change() -> None:
    state = live(services={"web": WEB, "db": {"image": "d:1"}}, images={"web": OLD, "db": "d"},
                 running={"web": LiveService(OLD), "db": LiveService("d")},
                 files={"proxy/nginx.conf": "1", "other.txt": "1"})  # fmt: skip
    again = nxt(services={"web": WEB, "db": {"image": "d:1"}}, images={"web": OLD, "db": "d"},
                files={"proxy/nginx.conf": "2", "other.txt": "1"})  # fmt: skip
    diff = compare("h", "p", state, again, {}, frozenset(), {"web": ("proxy",), "db": ("x",)})
    assert rows(diff) == {
        "db": ("unchanged", None, (), False),
        "web": ("recreate", None, ("file proxy/nginx.conf",), False),
    }
