"""The bench's bounded runs: exit code, output, and the CPU seconds of the command's processes."""

from __future__ import annotations

import sys

from bench.commands import run

BUSY = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_a_run_counts_the_cpu_seconds_of_its_process_and_the_children_it_waited_for() -> None:
    child = [sys.executable, "-c", BUSY]
    parent = f"import subprocess\nsubprocess.run({child!r})\n{BUSY}"
    done = run([sys.executable, "-c", parent], timeout=60)
    assert done.ok
    assert 0.6 <= done.cpu_seconds < done.seconds + 0.5


def test_a_sleeping_command_spends_little_cpu() -> None:
    done = run(["sleep", "0.5"], timeout=10)
    assert done.ok and done.seconds >= 0.5 and done.cpu_seconds < 0.2
