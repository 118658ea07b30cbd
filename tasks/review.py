"""The review task: publish what a deploy changes (dockyard diff) as a markdown artifact."""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import create_markdown_artifact

from dockyard.diff import render
from dockyard.diff.read import planned_diff
from dockyard.host.facts import HostFacts
from dockyard.pipeline.images import StackPlan
from dockyard.session import DeployRequest
from tasks.context import current_deadline, current_stack
from tasks.policy import fresh_step

KEY_PREFIX = "dockyard-diff"


def artifact_key(host: str, project: str) -> str:
    """The artifact key of a host/stack's diff (Prefect keys: lowercase, digits, dashes)."""
    return re.sub(r"[^a-z0-9-]+", "-", f"{KEY_PREFIX}-{host}-{project}".lower()).strip("-")


@fresh_step("plan", "diff {host}/{project}")
def publish_diff(
    request: DeployRequest, host: str, project: str, facts: HostFacts, stack_plan: StackPlan
) -> str:
    """After the plan, before any change: the diff of this host/stack as a markdown artifact
    (masked); returns the markdown. Runs under the plan step's policy."""
    hs = current_stack()
    config: dict[str, Any] = stack_plan.resolved.config
    diff = planned_diff(hs, facts, config, current_deadline())
    text = render.markdown(diff, hs.mask)
    create_markdown_artifact(text, key=artifact_key(host, project),
                             description=hs.mask(f"dockyard diff of {host}/{project}"))  # fmt: skip
    hs.log(render.heading(diff))
    return text
