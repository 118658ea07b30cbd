"""What diagnostics run on a failed host: compose by project name, never its files."""

from __future__ import annotations

import json
from types import SimpleNamespace

from dockyard.commands.compose import ComposeProject
from dockyard.deadline import Deadline
from dockyard.masking import Masker
from dockyard.pipeline.diagnostics import collect
from tests.fakes import FakeRunner


def _host(runner: FakeRunner) -> SimpleNamespace:
    masker = Masker(["pw-Zx81-never"])
    return SimpleNamespace(
        target=SimpleNamespace(name="vm3"), stack=SimpleNamespace(project="shop"),
        project=ComposeProject("shop", "/srv/shop", ("docker-compose.yml",)), runner=runner,
        mask=masker,
    )  # fmt: skip


def test_compose_ps_and_logs_read_no_compose_file() -> None:
    """Before the first deploy the remote dir holds no compose file: ps and logs go by the
    project's name, from dockyard's own directory."""
    down = json.dumps({"Service": "app", "State": "exited", "ExitCode": 1, "Health": ""})
    runner = FakeRunner().on(r"compose .* ps ", down).on(r"compose .* logs ", "pw-Zx81-never")
    text = collect(_host(runner), "JobFailed: job migrate exited 1", Deadline("diag", 30))
    compose = [c for c in runner.asked if "compose" in c]
    assert len(compose) == 2 and all("--file" not in c for c in compose)
    assert all("--project-name shop --project-directory /srv/shop/.dockyard" in c for c in compose)
    assert "## logs (app)" in text and "pw-Zx81-never" not in text
