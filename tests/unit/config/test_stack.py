"""The `stacks` section: unique projects and directories, env values the host's .env can hold."""

from __future__ import annotations

import copy
from pathlib import Path

from tests.unit.configkit import (
    ENVIRON,
    full_config,
    load,
    problems_of,
)


def test_duplicate_projects_and_overlapping_dirs(project: Path) -> None:
    data = full_config()
    second = copy.deepcopy(data["stacks"][0])
    second["remote_dir"] = "/opt/shop/admin"
    second["project"] = "admin"
    data["stacks"].append(second)
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == ["stacks[1].remote_dir"]
    assert "overlaps shop's /opt/shop" in str(error)
    second["remote_dir"], second["project"] = "/opt/admin", "shop"
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == ["stacks[1].project"]


def test_env_value_with_a_quote_is_refused_at_validate_without_showing_it(
    project: Path,
) -> None:
    error = problems_of(project, full_config(), environ={**ENVIRON, "DB_PASSWORD": "it's-x9"})
    text = str(error)
    assert "stacks[0].env.DB_PASSWORD" in text and "single quote" in text
    assert "it's-x9" not in text


def test_start_first_options_are_checked_with_their_fix(project: Path) -> None:
    data = full_config()
    data["stacks"][0]["up"] = {"start_first": ["app"], "stop_first": ["app"], "drain": "5s",
                               "pre_stop": {"worker": ["quit"]}}  # fmt: skip
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == ["stacks[0].up.start_first[0]"]
    assert "both stop_first and start_first" in str(error)
    data["stacks"][0]["up"]["stop_first"] = []
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == ["stacks[0].up.pre_stop.worker"]
    assert "add worker to start_first" in str(error)


def test_http_check_fields_are_checked_with_their_fix(project: Path) -> None:
    data = full_config()
    up = {"start_first": ["app"], "http_check": {"app": {"port": 8080, "path": "/healthz"}}}
    data["stacks"][0]["up"] = up
    assert load(project, data).stacks[0].up.http_check["app"].status == 200
    cases = [
        ({"port": 0}, "stacks[0].up.http_check.app.port", "65535"),
        ({"port": 70000}, "stacks[0].up.http_check.app.port", "65535"),
        ({"port": 80, "path": "healthz"}, "stacks[0].up.http_check.app.path", "start it with /"),
        ({"port": 80, "status": 99}, "stacks[0].up.http_check.app.status", "100"),
        ({"port": 80, "status": 600}, "stacks[0].up.http_check.app.status", "599"),
        ({"port": 80, "timeout": "0s"}, "stacks[0].up.http_check.app.timeout", ""),
    ]
    for check, field, words in cases:
        up["http_check"] = {"app": check}
        error = problems_of(project, data)
        assert [p.field for p in error.problems] == [field], (check, str(error))
        assert words in str(error), str(error)
    up["http_check"] = {"worker": {"port": 80}}
    error = problems_of(project, data)
    assert [p.field for p in error.problems] == ["stacks[0].up.http_check.worker"]
    assert "add worker to start_first, or drop its http_check" in str(error)
