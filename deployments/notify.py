"""Failure notification: a Prefect automation that calls a webhook when a `dockyard-deploy` run
fails (the server's triggers and actions services evaluate and send it)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit
from uuid import UUID

from dockyard.errors import DockyardError

DEPLOY_FLOW = "dockyard-deploy"
NAME = "dockyard-deploy-failed"  # the automation's and the webhook block's name
PAYLOAD = json.dumps(
    {
        "event": "dockyard deploy failed",
        "flow_run_id": "{{ flow_run.id }}",
        "flow_run_name": "{{ flow_run.name }}",
        "state": "{{ flow_run.state.name }}",
        "message": "{{ flow_run.state.message }}",
    },
    indent=2,
)


class BadWebhook(DockyardError):
    """The webhook URL is not an absolute http(s) URL."""


def check_url(url: str) -> str:
    """`url` if it is an absolute http(s) URL with a host, else BadWebhook (the URL itself is
    not repeated: it may carry a token)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadWebhook("--webhook is not an absolute http(s) URL; give e.g. "
                         "https://hooks.example.com/services/...")  # fmt: skip
    return url


def set_up(url: str) -> UUID:
    """Save the webhook block and (re)create the automation on the current Prefect API: on a
    `prefect.flow-run.Failed` event of a `dockyard-deploy` run, POST PAYLOAD to `url`. Running
    it again replaces both. Returns the automation's id."""
    from prefect.automations import Automation
    from prefect.blocks.webhook import Webhook
    from prefect.client.orchestration import get_client
    from prefect.events.actions import CallWebhook
    from prefect.events.schemas.automations import EventTrigger, Posture

    block_id = Webhook(url=check_url(url), method="POST").save(NAME, overwrite=True)
    with get_client(sync_client=True) as client:
        for old in client.read_automations_by_name(NAME):
            client.delete_automation(old.id)
    automation = Automation(
        name=NAME,
        description=f"POST to the {NAME} webhook block when a {DEPLOY_FLOW} run fails",
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            match_related={
                "prefect.resource.role": "flow",
                "prefect.resource.name": DEPLOY_FLOW,
            },
            posture=Posture.Reactive,
            threshold=1,
        ),
        actions=[CallWebhook(block_document_id=block_id, payload=PAYLOAD)],
    ).create()
    return UUID(str(automation.id))
