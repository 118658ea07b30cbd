"""The deploy's steps, listed once: each report step name, its policy key and whether a rerun of
the attempt skips it once done. `steps.<name>` in deploy.yaml overrides its policy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One step: its name (report and policy key), whether a rerun of the attempt skips it once
    done (`cached`), and what it does."""

    name: str
    cached: bool
    does: str


STEPS: tuple[Step, ...] = (
    Step("preflight", False, "strict host key; docker, daemon and compose versions"),
    Step("converge", False, "is this release already running as recorded? then skip the rest"),
    Step("lock", False, "take the stack's host lease"),
    Step("plan", False, "resolve the stack, decide per image: skip, pull or verify"),
    Step("verify", True, "every per-deploy or to-be-pulled image exists in its registry"),
    Step("sync", True, "upload the bundle files whose sha256 differ"),
    Step("env", True, "write the stack's .env by SFTP, mode 0600"),
    Step("releases", False, "read the host's release history"),
    Step("disk", False, "free-space gate; prune only what dockyard owns"),
    Step("pull", True, "pull one image (report: `pull IMAGE`)"),
    Step("job", True, "one one-off job (report: `job NAME`)"),
    Step("stop-first", True, "stop services that race `up`"),
    Step(
        "replace",
        True,
        "start-first: new container beside the old, healthy, old drained "
        "(report: `replace SERVICE`)",
    ),
    Step("up", True, "compose up --wait of the release"),
    Step("restarts", True, "restart services whose watched config files changed"),
    Step("health", False, "compose health, HTTP checks, hooks"),
    Step("record", False, "the release record on the host"),
    Step("cleanup", False, "remove dangling images dockyard pulled, keeping the last N releases"),
    Step("unlock", False, "release the host lease"),
    Step("diagnostics", False, "on failure: disk, compose ps, log tails"),
    Step("rollback", False, "back to the last good release's files and digests"),
)
STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
BY_NAME = {s.name: s for s in STEPS}
RENAMED = {"connect": "preflight", "jobs": "job"}


def step_of(report_name: str) -> Step:
    """The step of a report name: `pull app:v2` -> pull, `job migrate` -> job."""
    family = report_name.split(" ", 1)[0]
    if family not in BY_NAME:
        raise KeyError(report_name)
    return BY_NAME[family]
