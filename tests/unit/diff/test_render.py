"""Rendering a diff: every row kind, secrets as `***`, the masker over all text, no changes."""

from __future__ import annotations

from dockyard.diff import render
from dockyard.diff.compare import EnvChange, FileChange, ServiceChange, StackDiff
from dockyard.masking import Masker

OLD = "reg/app@sha256:" + "a" * 64
NEW = "reg/app@sha256:" + "b" * 64
SECRET = "hunter2-secret"

DIFF = StackDiff(
    host="vm1",
    project="shop",
    release_from="r-old",
    release_to="r-new",
    services=(
        ServiceChange("app", "recreate", (OLD, NEW)),
        ServiceChange("migrator", "recreate", (OLD, NEW), job=True),
        ServiceChange("proxy", "recreate", keys=("volumes",)),
        ServiceChange("db", "unchanged"),
        ServiceChange("cache", "create"),
        ServiceChange("old", "remove"),
    ),
    env=(
        EnvChange("DB_PASSWORD", "~", True),
        EnvChange("API_KEY", "+", True),
        EnvChange("LEVEL", "~", False, "info", f"debug-{SECRET}"),
        EnvChange("NEW", "+", False, None, "1"),
        EnvChange("OLD", "-", False, "x", None),
    ),
    files=(
        FileChange("proxy/Caddyfile", "~"),
        FileChange("new.txt", "+"),
        FileChange("gone.txt", "-"),
    ),
    jobs=("migrate",),
)


def test_text_shows_every_row_kind() -> None:
    out = render.text(DIFF, Masker([SECRET]))
    for line in [
        "vm1/shop: r-old -> r-new",
        "recreate  app (image reg/app@sha256:aaaaaaaaaaaa -> reg/app@sha256:bbbbbbbbbbbb)",
        "recreate  migrator (job) (image reg/app@sha256:aaaaaaaaaaaa -> ",
        "recreate  proxy (config: volumes)",
        "unchanged db",
        "create    cache",
        "remove    old",
        "~ DB_PASSWORD (secret changed)",
        "+ API_KEY = ***",
        "+ NEW = 1",
        "- OLD",
        "reg/app@sha256:aaaaaaaaaaaa -> reg/app@sha256:bbbbbbbbbbbb (app, migrator)",
        "jobs that will run:",
        "    migrate",
        "~ proxy/Caddyfile",
        "+ new.txt",
        "- gone.txt",
    ]:
        assert line in out, line
    assert SECRET not in out and "~ LEVEL: info -> debug-" in out


def test_markdown_has_sections_and_masks() -> None:
    out = render.markdown(DIFF, Masker([SECRET]))
    assert out.startswith("### vm1/shop: r-old -> r-new\n")
    assert "**services**" in out and "```diff" in out and "**files**" in out
    assert "~ DB_PASSWORD (secret changed)" in out
    assert SECRET not in out


def test_no_changes() -> None:
    same = StackDiff("vm1", "shop", "r-1", "r-1", (ServiceChange("db", "unchanged"),), (), (), ())
    assert render.text(same, str) == "vm1/shop: no changes"
    assert render.markdown(same, str) == "### vm1/shop: no changes\n"
    assert "no changes" in render.markdown_all([same, DIFF], str)
