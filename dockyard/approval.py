"""A person's go-ahead for the next rollout batch: the answer, its reason, its text (pure)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from dockyard.errors import DockyardError
from dockyard.report import DeployReport, HostReport
from dockyard.rollout import Batch

UI_ACTOR = "prefect-ui"  # who answered when the form gave no name (Prefect OSS names no user)
PAUSE_KEY = "approve-batch"  # the pause before batch N is f"{PAUSE_KEY}-{N}"
ANSWER_PREFIX = f"paused-{PAUSE_KEY}-"  # Prefect keeps its answer as paused-<key>-response
MAX_ACTOR = 200


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


def approver_before(answers: Sequence[tuple[str, float, str]], before: float) -> str:
    """Who gave the latest approval made before `before` ("" if none), from a deploy run's
    stored pause answers (key, time, JSON text): a pool host run starts after its batch's
    approval, and a Retry of it keeps its creation time. They come from the Prefect API, so a
    text that is not an approving form's answer is ignored."""
    approvers = []
    for key, at, text in answers:
        if not (key.startswith(ANSWER_PREFIX) and key.endswith("-response")) or at >= before:
            continue
        try:
            form = json.loads(text)
        except ValueError:
            continue
        if not isinstance(form, dict) or form.get("approve") is not True:
            continue
        actor, comment = form.get("approver", ""), form.get("comment", "")
        if isinstance(actor, str) and isinstance(comment, str) and len(actor) <= MAX_ACTOR:
            approvers.append((at, answer(True, comment, actor).actor))
    return max(approvers)[1] if approvers else ""


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
    report = DeployReport("this run", release, list(done)).to_markdown("deployed so far")
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
