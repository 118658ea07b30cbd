"""Pure tests of release records: the last good release, kept digests, reading the JSONL file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from dockyard.commands.hoststate.paths import HostState
from dockyard.deadline import Deadline
from dockyard.host import releases
from dockyard.host.releases import (
    MAX_BYTES,
    Release,
    append,
    kept_digests,
    last_good,
    parse,
    read_all,
)
from dockyard.ssh.link import RunResult
from tests.unit.shhost import ShHost


def rel(n: int, result: str = "succeeded", **images: str) -> Release:
    return Release(
        id=f"r{n}", time=f"2025-01-0{n}T00:00:00Z", actor="ci", run_id=f"run-{n}",
        result=result, config_hash=f"h{n}", images=images or {"api": f"app@sha256:{n:064x}"},
    )  # fmt: skip


HISTORY = [
    rel(1),
    rel(2),
    rel(3, "failed"),
    rel(4),
    rel(5, "rolled_back"),
    rel(6, "failed"),
]


class TestLastGood:
    def test_newest_succeeded_skipping_failed_and_rolled_back(self) -> None:
        assert last_good(HISTORY) == rel(4)

    def test_before_skips_that_release(self) -> None:
        assert last_good(HISTORY, before="r4") == rel(2)
        assert last_good(HISTORY, before="r6") == rel(4)

    def test_none_when_nothing_succeeded(self) -> None:
        assert last_good([]) is None
        assert last_good([rel(1, "failed"), rel(2, "rolled_back")]) is None
        assert last_good([rel(1)], before="r1") is None


class TestKeptDigests:
    def test_images_of_the_last_n_succeeded_only(self) -> None:
        history = [
            rel(1, api="a1", db="d1"),
            rel(2, api="a2", db="d1"),
            rel(3, "failed", api="a3"),
            rel(4, api="a4", db="d2"),
            rel(5, "rolled_back", api="a5"),
        ]
        assert kept_digests(history, 2) == {"a2", "a4", "d1", "d2"}
        assert kept_digests(history, 1) == {"a4", "d2"}
        assert kept_digests(history, 10) == {"a1", "a2", "a4", "d1", "d2"}

    def test_redeploys_of_one_release_count_once(self) -> None:
        history = [rel(1, api="a1"), rel(2, api="a2"), rel(2, api="a2"), rel(2, api="a2")]
        assert kept_digests(history, 2) == {"a1", "a2"}

    def test_keep_zero_or_less_is_empty(self) -> None:
        assert kept_digests(HISTORY, 0) == set()
        assert kept_digests(HISTORY, -1) == set()

    def test_no_history(self) -> None:
        assert kept_digests([], 3) == set()


def state(tmp_path: Path) -> HostState:
    return HostState(str(tmp_path))


def log(tmp_path: Path) -> Path:
    """The history file of the stack at tmp_path (its directory made, as a deploy would)."""
    path = Path(state(tmp_path).releases_log)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def deadline() -> Deadline:
    return Deadline("releases", 30.0)


class TestHistoryFile:
    """The history's host scripts, run by a real local sh."""

    def test_reads_every_record_oldest_first_and_warns_on_bad_lines(self, tmp_path: Path) -> None:
        lines = [
            json.dumps(asdict(rel(1))),
            "",
            "{not json",
            json.dumps({"id": "r9"}),  # missing fields
            json.dumps({**asdict(rel(9)), "extra": 1}),  # unknown field
            "[1, 2]",
            json.dumps(asdict(rel(2, "failed"))),
        ]
        log(tmp_path).write_text("\n".join(lines) + "\n")
        warnings: list[str] = []
        found = read_all(ShHost(), state(tmp_path), deadline(), warnings.append)  # type: ignore[arg-type]
        assert found == [rel(1), rel(2, "failed")]
        assert len(warnings) == 4 and "line 3" in warnings[0]

    def test_a_giant_planted_line_is_cut_on_the_host_not_after_reading(
        self, tmp_path: Path
    ) -> None:
        good = [json.dumps(asdict(rel(n))) for n in (1, 2, 3)]
        giant = "x" * (3 * MAX_BYTES)
        log(tmp_path).parent.mkdir(parents=True, exist_ok=True)
        log(tmp_path).write_text("\n".join([giant, *good]) + "\n")
        sent: list[int] = []

        class Counting(ShHost):
            def run(self, *args: Any, **kwargs: Any) -> RunResult:
                result = super().run(*args, **kwargs)
                sent.append(len(result.stdout))
                return result

        warnings: list[str] = []
        found = read_all(Counting(), state(tmp_path), deadline(), warn=warnings.append)  # type: ignore[arg-type]
        assert found == [rel(1), rel(2), rel(3)] and len(warnings) == 1
        assert sent == [MAX_BYTES]

    def test_missing_file_is_no_history(self, tmp_path: Path) -> None:
        assert read_all(ShHost(), state(tmp_path / "none"), deadline()) == []  # type: ignore[arg-type]

    def test_a_cut_off_line_stays_alone_and_the_next_record_survives(self, tmp_path: Path) -> None:
        cut = json.dumps(asdict(rel(1)))[:40]
        log(tmp_path).write_text(cut)  # a deploy died mid-append
        append(ShHost(), state(tmp_path), rel(2), deadline())  # type: ignore[arg-type]
        warnings: list[str] = []
        assert read_all(ShHost(), state(tmp_path), deadline(), warnings.append) == [rel(2)]  # type: ignore[arg-type]
        assert len(warnings) == 1 and "line 1" in warnings[0]

    def test_the_history_is_bounded_to_the_newest_records(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(releases, "MAX_RECORDS", 3)
        for n in range(1, 7):
            append(ShHost(), state(tmp_path), rel(n), deadline())  # type: ignore[arg-type]
        text = log(tmp_path).read_text()
        assert [r.id for r in parse(text)] == ["r4", "r5", "r6"]
        assert not list(log(tmp_path).parent.glob("*.tmp.*"))


class TestRecordsAreHostInput:
    """A record read back from the host is validated before anything uses it."""

    NEWLINE_IMAGE = "127.0.0.1:5000/dockyard/app:v1\n    privileged: true"

    @pytest.mark.parametrize(
        "change",
        [
            {"images": {"api": NEWLINE_IMAGE}},
            {"refs": {"api": "x:1 y"}},
            {"variables": {"APP_IMAGE": "../../etc"}},
            {"images": {"api\n  x": "app:1"}},
            {"id": "../../tmp/x"},
            {"id": 7},
            {"actor": ["a"]},
            {"services": {"api": {"id": 1}}},
            {"images": ["app:1"]},
        ],
    )
    def test_an_invalid_record_is_skipped_with_a_warning(self, change: dict[str, Any]) -> None:
        lines = [json.dumps({**asdict(rel(1)), **change}), json.dumps(asdict(rel(2)))]
        warnings: list[str] = []
        assert parse("\n".join(lines), warnings.append) == [rel(2)]
        assert len(warnings) == 1 and "line 1 is not a valid release record" in warnings[0]

    def test_image_ids_and_digests_are_images(self) -> None:
        record = asdict(rel(1, api="sha256:" + "a" * 64, db="postgres@sha256:" + "b" * 64))
        assert releases.record_problem(record) == ""
