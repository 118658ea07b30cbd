"""A person's go-ahead for the next rollout batch: the answer, its reason, its text (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import DockyardError
from dockyard.report import DeployReport, HostReport
from dockyard.rollout import Batch

UI_ACTOR = "prefect-ui"  # who answered when the form gave no name (Prefect OSS names no user)


class ApprovalNeedsServer(DockyardError):
    """rollout.approve asks for a pause, but the run has no Prefect server a person can reach."""


@dataclass(frozen=True)
class Approval:
    """The answer to a pause: go on or not, who answered (or `timeout`), their comment."""

    approved: bool
    actor: str
    comment: str = ""
    timed_out: bool = False

    @property
    def reason(self) -> str:
        """The rollout decision it makes, for the report."""
        said = f": {self.comment}" if self.comment else ""
        if self.timed_out:
            return f"not approved in time{said}: the rollout stops as rejected"
        if self.approved:
            return f"approved by {self.actor}{said}"
        return f"rejected by {self.actor}{said}: the rollout stops"


def answer(approve: bool, comment: str, actor: str) -> Approval:
    """The Approval from the form's fields; the UI's form leaves `actor` empty."""
    return Approval(approve, actor.strip() or UI_ACTOR, comment.strip())


def server_problem(approve: str, has_server: bool) -> str:
    """Why a rollout with `approve` cannot run without a Prefect server ("" when it can)."""
    if approve == "never" or has_server:
        return ""
    return (
        f"rollout.approve is {approve}: the deploy pauses for a person, which needs a Prefect "
        "server they can reach (the CLI's one-run local API stops with the run); start one "
        "(`dockyard server`) and set PREFECT_API_URL, or set rollout.approve: never"
    )


def description(release: str, next_batch: Batch, done: Sequence[HostReport], diff: str = "") -> str:
    """The pause's markdown: what waits, the report of the hosts deployed so far (the canary)
    and the release's diff when there is one, and how to answer."""
    report = DeployReport("this run", release, list(done)).to_markdown()
    parts = [
        f"## Approve the next batch of release {release}?",
        f"Next: {next_batch.reason} ({', '.join(next_batch.hosts)}).",
        "Tick **approve** to go on; leave it unticked to reject: the hosts deployed so far are "
        "rolled back and the others stay on their release.",
        report,
    ]
    if diff:
        parts.append(diff)
    return "\n\n".join(parts)
