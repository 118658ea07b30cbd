"""The convergence step: one read of the host, registry HEADs for what may move, the verdict.

`judge` is pure (facts in, verdict out); `converge` reads the facts and asks the registry.
Unchanged means: no deploy holds the stack's lock, the host's newest release record is a
deploy's success of this very release, nothing needs pulling by the same plan a deploy makes
(mutable tags and `pull: always` are asked of the registry), and every recorded container runs
its recorded image with its recorded compose config hash, healthy."""

from __future__ import annotations

import dataclasses
from typing import Any

from dockyard.convergence import Convergence, RecordedRelease, RecordedService, decide
from dockyard.deadline import Deadline
from dockyard.hostfacts import HostFacts
from dockyard.images.errors import RegistryError
from dockyard.images.plan import DigestSource, PlanPolicy, plan_pulls
from dockyard.images.registry import RegistryClient
from dockyard.pipeline.facts import read_facts
from dockyard.session import HostStack

FORCED = Convergence("changed", ("--force: every step runs",))


def _changed(reason: str) -> Convergence:
    return Convergence("changed", (reason,))


def recorded(head: dict[str, Any] | None) -> RecordedRelease | str:
    """The release the host's newest record says runs, or why it cannot be trusted as one."""
    if head is None:
        return "no release is recorded on the host"
    if head.get("result") != "succeeded":
        return f"the last deploy of the stack ended {head.get('result') or 'without a result'}"
    services = head.get("services")
    if not head.get("refs") or not isinstance(services, dict) or not services:
        return "the release record has no per-service images (a rollback or an older dockyard)"
    try:
        by_service = {n: RecordedService(str(s["id"]), str(s["config_hash"]))
                      for n, s in services.items()}  # fmt: skip
        one_shot = frozenset(str(n) for n in head.get("one_shot") or ())
        return RecordedRelease(str(head["id"]), by_service, one_shot)
    except (KeyError, TypeError):
        return "the release record's services are malformed"


def _asking(policy: PlanPolicy) -> PlanPolicy:
    """The plan policy with `pull: always` read as `changed`: an image pulled on every deploy
    needs pulling only when the registry's digest is not the one on the host."""
    overrides = {s: "changed" if o == "always" else o for s, o in policy.overrides.items()}
    return dataclasses.replace(policy, overrides=overrides)


def judge(
    facts: HostFacts, release_id: str, policy: PlanPolicy, digest_of: DigestSource,
    force: bool = False,
) -> Convergence:  # fmt: skip
    """The verdict for one stack from its host facts; `digest_of` answers registry digests."""
    if force:
        return FORCED
    if facts.lock:
        return _changed("a deploy holds the stack's lock: the full deploy waits for it")
    current = recorded(facts.release_head)
    if isinstance(current, str):
        return _changed(current)
    if current.id != release_id:
        return _changed(f"the host runs release {current.id}, not {release_id}")
    refs = dict((facts.release_head or {}).get("refs") or {})
    plan = plan_pulls(refs, facts.images, digest_of, _asking(policy))
    to_pull = [d.image for d in plan.to_pull()]
    return decide(release_id, current, facts.containers, to_pull)


def converge(hs: HostStack, deadline: Deadline, force: bool = False) -> Convergence:
    """Whether `hs`'s host already runs this release as recorded (one facts read, then the
    registry only for tags the plan must ask about). A registry that does not answer makes the
    verdict `changed`: the full deploy then reports it with its retries."""
    if force:
        return FORCED
    facts = read_facts(hs, deadline)
    policy = PlanPolicy.from_config(hs.config, hs.stack.project)
    try:
        with RegistryClient.from_config(hs.config.images.registries, deadline=deadline) as reg:
            return judge(facts, hs.loaded.release, policy, reg.manifest_digest)
    except RegistryError as exc:
        return _changed(hs.mask(f"the registry did not answer the check ({exc})"))
