"""The pure parts of pool host runs: the run's parameters and request, when pools are used,
and the host report's round trip through the artifact's JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from dockyard.names import LOCAL_API_MARK
from dockyard.report import HostReport, ImageReport, PruneSection, StepReport
from dockyard.session import DeployRequest
from flows.host_flow import pool_parameters, pool_request, pools_usable

REQUEST = DeployRequest("/srv/deploy.yaml", {"APP_IMAGE": "reg/app:v2"}, "parent-7", "ci",
                        ("run-3",), force=True)  # fmt: skip


def test_parameters_are_json_and_name_only_host_release_and_force() -> None:
    params = pool_parameters(REQUEST, "vm2", "r-abc")
    assert json.loads(json.dumps(params)) == params
    assert params == {"host": "vm2", "release": "r-abc", "force": True}
    # the config is the deployment's own; variables, actor, parent and resumed runs the host
    # run reads from its parent deploy run through the API, never from its parameters


def test_the_host_run_leases_as_itself_and_may_take_over_its_deploy_runs_lease() -> None:
    request = pool_request("/w/deploy.yaml", {"A": "1"}, "host-run-9", "ci", "parent-7",
                           ["run-3"])  # fmt: skip
    assert request.run_id == "host-run-9"
    assert request.resumes == ("run-3", "parent-7")
    assert (request.config_path, dict(request.variables), request.actor) == (
        "/w/deploy.yaml", {"A": "1"}, "ci",
    )  # fmt: skip
    assert pool_request("c", {}, "h", "ci", "", []).resumes == ()
    assert pool_request("c", {}, "h", "ci", "", [], force=True).force
    assert pool_request("c", {}, "h", "ci", "", [], approved_by="ana").approved_by == "ana"


def test_pools_need_an_api_that_workers_poll() -> None:
    url = {"PREFECT_API_URL": "http://127.0.0.1:4200/api"}
    assert pools_usable(url)
    assert not pools_usable({})
    assert not pools_usable({**url, LOCAL_API_MARK: "1"})


def test_a_host_report_survives_its_json_round_trip() -> None:
    report = HostReport(
        "vm2", "failed", "boom", [StepReport("sync", "Cached", 0.1, 0)],
        [ImageReport("reg/app:v2", "app", "per-deploy", "pull", "new", 10, 1.5)],
        ["a note"], "diag", [PruneSection("shop", "cleanup", "ok", ["img"], [], [])],
        "2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z",
    )  # fmt: skip
    assert HostReport.from_json(json.loads(json.dumps(asdict(report)))) == report
