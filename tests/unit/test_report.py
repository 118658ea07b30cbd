"""Pure tests of the deploy report: result aggregation, failed hosts, JSON, markdown tables."""

from __future__ import annotations

import json

import pytest

from dockyard.report import (
    FAILED,
    ROLLED_BACK,
    SUCCEEDED,
    DeployReport,
    HostReport,
    ImageReport,
    PruneSection,
    StepReport,
    deploy_text,
)


def report(*results: str) -> DeployReport:
    hosts = [HostReport(f"vm{i}", result=r) for i, r in enumerate(results, 1)]
    return DeployReport("run-1", "rel-1", hosts)


@pytest.mark.parametrize(
    ("results", "expected", "failed"),
    [
        ((), SUCCEEDED, []),
        ((SUCCEEDED,), SUCCEEDED, []),
        ((SUCCEEDED, SUCCEEDED), SUCCEEDED, []),
        ((ROLLED_BACK,), ROLLED_BACK, ["vm1"]),
        ((SUCCEEDED, ROLLED_BACK), ROLLED_BACK, ["vm2"]),
        ((FAILED,), FAILED, ["vm1"]),
        ((SUCCEEDED, FAILED), FAILED, ["vm2"]),
        ((ROLLED_BACK, FAILED, SUCCEEDED), FAILED, ["vm1", "vm2"]),
    ],
)
def test_result_and_failed_hosts(results: tuple[str, ...], expected: str, failed: list) -> None:
    r = report(*results)
    assert r.result == expected
    assert r.failed_hosts == failed


def full_report() -> DeployReport:
    host = HostReport(
        "vm1",
        result=ROLLED_BACK,
        error="HealthCheckFailed: api unhealthy",
        steps=[
            StepReport("preflight", "Completed", 0.5, 1),
            StepReport("pull", "Failed", 3, 3, 0.5),
        ],
        images=[
            ImageReport("reg/app:v2", "api", "per-deploy", "pull", "absent", 12345, 1.25),
            ImageReport("postgres:15", "db", "version", "skip", "present"),
        ],
        notes=["rolled back to release r0"],
    )
    return DeployReport("flow-42", "rel-7", [host, HostReport("vm2")])


class TestJson:
    def test_top_level_keys(self) -> None:
        doc = full_report().to_json()
        assert doc["result"] == ROLLED_BACK
        assert doc["flow_run_id"] == "flow-42"
        assert doc["release"] == "rel-7"
        assert doc["failed_hosts"] == ["vm1"]
        assert list(doc["hosts"]) == ["vm1", "vm2"]

    def test_host_steps_and_images(self) -> None:
        host = full_report().to_json()["hosts"]["vm1"]
        assert host["result"] == ROLLED_BACK
        assert host["error"] == "HealthCheckFailed: api unhealthy"
        assert host["steps"][1] == {
            "name": "pull",
            "state": "Failed",
            "seconds": 3,
            "attempts": 3,
            "started": 0.5,
        }
        image = host["images"][0]
        assert (image["image"], image["action"], image["bytes"]) == ("reg/app:v2", "pull", 12345)
        assert host["images"][1]["bytes"] == 0
        assert host["notes"] == ["rolled back to release r0"]

    def test_is_plain_json(self) -> None:
        doc = full_report().to_json()
        assert json.loads(json.dumps(doc)) == doc


class TestMarkdown:
    def test_title_release_and_host_headings(self) -> None:
        text = full_report().to_markdown()
        assert text.startswith("# deploy rolled_back\n")
        assert "release `rel-7`" in text
        assert "## vm1: rolled_back" in text
        assert "## vm2: succeeded" in text
        assert "**error:** HealthCheckFailed: api unhealthy" in text

    def test_step_and_image_tables(self) -> None:
        lines = full_report().to_markdown().splitlines()
        assert "| step | state | start s | seconds | attempts |" in lines
        assert "| preflight | Completed | 0.00 | 0.50 | 1 |" in lines
        assert "| pull | Failed | 0.50 | 3.00 | 3 |" in lines
        assert "| image | kind | action | reason | bytes | seconds |" in lines
        assert "| reg/app:v2 | per-deploy | pull | absent | 12345 | 1.25 |" in lines
        assert "| postgres:15 | version | skip | present | 0 | 0.00 |" in lines
        assert "- rolled back to release r0" in lines

    def test_no_error_line_for_a_clean_host(self) -> None:
        text = DeployReport("f", "r", [HostReport("vm2")]).to_markdown()
        assert "**error:**" not in text


class TestPruneSection:
    section = PruneSection(
        "shop", "disk gate", "gate still fails: 3.0 GB free < 15 GB",
        removed=["image reg/app:v1 (2.0 GB)"], refused=["image reg/app:v0: conflict"],
        holders=["project billing (not dockyard's): 3 container(s)"],
    )  # fmt: skip

    def test_in_the_json_of_its_host(self) -> None:
        host = HostReport("vm1", prunes=[self.section])
        doc = DeployReport("f", "r", [host]).to_json()["hosts"]["vm1"]
        assert doc["prunes"][0]["removed"] == ["image reg/app:v1 (2.0 GB)"]
        assert doc["prunes"][0]["holders"] == self.section.holders

    def test_in_the_markdown_after_the_hosts_tables(self) -> None:
        text = DeployReport("f", "r", [HostReport("vm1", prunes=[self.section])]).to_markdown()
        lines = text.splitlines()
        assert "### disk gate prune, stack shop" in lines
        assert "- removed image reg/app:v1 (2.0 GB)" in lines
        assert "- kept (the engine refused) image reg/app:v0: conflict" in lines
        assert lines.index("Who holds the space:") < lines.index(
            "- project billing (not dockyard's): 3 container(s)"
        )


def test_text_report_gives_each_step_its_start_offset_next_to_its_seconds() -> None:
    lines = deploy_text(full_report().to_json()).splitlines()
    assert "  pull                         Failed        3.00s @  0.50s x3" in lines
