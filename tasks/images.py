"""Image tasks: plan (always fresh), verify (cached per release), one pull task per image."""

from __future__ import annotations

import time

from prefect.artifacts import create_progress_artifact, update_progress_artifact

from dockyard.images import progress as pull_progress
from dockyard.images.plan import ImageDecision
from dockyard.images.pull import PullResult
from dockyard.pipeline import images
from dockyard.session import DeployRequest
from tasks.context import current_deadline, current_stack
from tasks.policy import cached_step, fresh_step

PROGRESS_EVERY = 1.0


@fresh_step("plan", "plan {host}/{project}")
def plan_images(request: DeployRequest, host: str, project: str) -> images.StackPlan:
    """Resolve the stack and decide per image: skip, pull or verify (reads only)."""
    hs = current_stack()
    stack_plan = images.plan_stack(hs, current_deadline())
    for d in stack_plan.plan.decisions:
        hs.log(f"{d.action:6} {d.image} ({d.kind.value}): {d.reason}")
    return stack_plan


@cached_step("verify", "verify {host}/{project}")
def verify_images(
    request: DeployRequest, host: str, project: str, attempt: str, stack_plan: images.StackPlan
) -> list[str]:
    """Every per-deploy or to-be-pulled image exists in its registry, before any change."""
    hs = current_stack()
    return images.verify_in_registry(hs, stack_plan.plan, current_deadline())


@cached_step("pull", "pull {subject}")
def pull_image(
    request: DeployRequest,
    host: str,
    project: str,
    attempt: str,
    subject: str,
    decision: ImageDecision,
) -> PullResult:
    """Pull one image; retried alone on transient errors, skipped once done for this release."""
    hs = current_stack()
    artifact = create_progress_artifact(0.0, description=f"pull {subject} on {host}")
    last = [0.0]

    def progress(_image: str, done: int, total: int) -> None:
        pull_progress.publish(host, subject, done, total)
        now = time.monotonic()
        if total and now - last[0] >= PROGRESS_EVERY:
            last[0] = now
            update_progress_artifact(artifact, min(100.0, 100.0 * done / total))

    result = images.pull_on_host(hs, decision, current_deadline(), progress)
    update_progress_artifact(artifact, 100.0)
    hs.log(f"pulled {subject}: {result.bytes} bytes in {result.seconds} s")
    return result
