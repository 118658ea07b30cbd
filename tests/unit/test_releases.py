"""Pure tests of release records: the last good release, kept digests, reading the JSONL file."""

from __future__ import annotations

import json
from dataclasses import asdict

from dockyard.releases import RELEASES_FILE, Release, kept_digests, last_good, read_all


def rel(n: int, result: str = "succeeded", **images: str) -> Release:
    return Release(
        id=f"r{n}", time=f"2025-01-0{n}T00:00:00Z", actor="ci", run_id=f"run-{n}",
        result=result, config_hash=f"h{n}", images=images or {"api": f"app@sha256:{n}"},
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

    def test_keep_zero_or_less_is_empty(self) -> None:
        assert kept_digests(HISTORY, 0) == set()
        assert kept_digests(HISTORY, -1) == set()

    def test_no_history(self) -> None:
        assert kept_digests([], 3) == set()


class FakeHost:
    """Serves one file for read_file and records what was asked."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data
        self.asked: list[tuple[str, int]] = []

    def read_file(self, remote: str, max_bytes: int = 1 << 20) -> bytes | None:
        self.asked.append((remote, max_bytes))
        return self.data


class TestReadAll:
    def test_reads_every_record_oldest_first_and_skips_bad_lines(self) -> None:
        lines = [
            json.dumps(asdict(rel(1))),
            "",
            "{not json",
            json.dumps({"id": "r9"}),  # missing fields
            json.dumps({**asdict(rel(9)), "extra": 1}),  # unknown field
            "[1, 2]",
            "null",
            json.dumps(asdict(rel(2, "failed"))),
        ]
        host = FakeHost(("\n".join(lines) + "\n").encode())
        assert read_all(host, "/opt/shop/.dockyard") == [rel(1), rel(2, "failed")]  # type: ignore[arg-type]
        assert host.asked == [(f"/opt/shop/.dockyard/{RELEASES_FILE}", 4 << 20)]

    def test_missing_file_is_no_history(self) -> None:
        assert read_all(FakeHost(None), "/s") == []  # type: ignore[arg-type]

    def test_invalid_utf8_is_replaced_not_fatal(self) -> None:
        data = b"\xff\xfe garbage\n" + json.dumps(asdict(rel(3))).encode() + b"\n"
        assert read_all(FakeHost(data), "/s") == [rel(3)]  # type: ignore[arg-type]
