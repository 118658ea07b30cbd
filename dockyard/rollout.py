"""The rollout plan: which hosts deploy in which batch, and after each batch whether to go on.

Pure, in the style of dockyard.images.plan: every decision carries its reason."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from dockyard.config.rollout import APPROVE_TIMEOUT, RolloutConfig


@dataclass(frozen=True)
class Batch:
    """Hosts that deploy together (at most `parallel` at once), and why they are grouped so."""

    hosts: tuple[str, ...]
    canary: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    """After a batch: go on or stop, why, and the hosts that will not start if it stops."""

    go: bool
    reason: str
    not_started: tuple[str, ...] = ()


def _count(value: int | str, total: int, rounding: str) -> int:
    """A count as configured, or `N%` of `total` rounded up ("ceil") or down ("floor")."""
    if isinstance(value, int):
        return value
    share = total * int(value.rstrip("%")) / 100
    return math.ceil(share) if rounding == "ceil" else math.floor(share)


@dataclass(frozen=True)
class RolloutPlan:
    """The batches in order (canary first), the failure limit, the pacing and when a person
    approves the next batch (`approve`, waiting at most `approve_timeout` seconds)."""

    batches: tuple[Batch, ...]
    max_failed: int
    max_failed_reason: str
    pause: float
    parallel: int
    approve: str = "never"
    approve_timeout: float = APPROVE_TIMEOUT

    @classmethod
    def make(cls, hosts: Sequence[str], policy: RolloutConfig) -> RolloutPlan:
        """Split `hosts` (in config order) by the policy."""
        total = len(hosts)
        canary = min(policy.canary, total)
        batches: list[Batch] = []
        if canary:
            batches.append(Batch(tuple(hosts[:canary]), True,
                                 f"canary: the first {canary} of {total} hosts"))  # fmt: skip
        size = max(1, _count(policy.batch, total, "ceil"))
        rest = list(hosts[canary:])
        for start in range(0, len(rest), size):
            group = tuple(rest[start : start + size])
            batches.append(Batch(group, False, f"batch {len(batches) + 1}: {len(group)} of "
                                 f"{total} hosts (batch {policy.batch})"))  # fmt: skip
        limit = _count(policy.max_failed, total, "floor")
        if limit >= total:
            why = "no failure limit: every host is tried"
        else:
            why = f"stop once more than {limit} of {total} hosts failed"
            why += f" (max_failed {policy.max_failed})"
        return cls(tuple(batches), limit, why, policy.pause, policy.parallel, policy.approve,
                   policy.approve_timeout)  # fmt: skip

    def asks_approval(self, index: int) -> bool:
        """Whether a person approves batch `index` (0-based) before it starts: the batch after
        the canary (after_canary), every batch after the first (before_each_batch), or none."""
        if index < 1 or index >= len(self.batches) or self.approve == "never":
            return False
        return self.approve == "before_each_batch" or self.batches[index - 1].canary

    def after(self, finished: int, failed: Collection[str]) -> Verdict:
        """Whether to start batch `finished` (0-based) once the batches before it ran and
        `failed` hosts did not succeed."""
        waiting = tuple(h for b in self.batches[finished:] for h in b.hosts)
        if not waiting:
            return Verdict(False, "every batch ran")
        canaries = {h for b in self.batches[:finished] if b.canary for h in b.hosts}
        if bad := sorted(canaries & set(failed)):
            return Verdict(False, f"the canary failed ({', '.join(bad)}): the rollout stops",
                           waiting)  # fmt: skip
        if len(failed) > self.max_failed:
            return Verdict(False, f"{len(failed)} hosts failed, more than max_failed "
                           f"{self.max_failed}: the rollout stops", waiting)  # fmt: skip
        return Verdict(True, f"{len(failed)} failed, within max_failed {self.max_failed}: "
                       f"{self.batches[finished].reason}")  # fmt: skip
