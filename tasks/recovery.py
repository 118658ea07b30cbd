"""The recovery hook around every step: the lease check and the attempt journal on the host.

Before a step: stop if this run lost its lease on the stack (LeaseLost). A journaled (cached)
step is skipped with its recorded result when the host's journal says it finished in this
attempt, whatever Prefect's cache holds (a new runner has none), and is journaled once it
finishes. The skip shows as Cached, like a Prefect cache hit. The journal is read from the host
once per lease (the lock step drops the copy this run kept); every call is within the step's
deadline."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from prefect.states import Completed, State

from dockyard.deadline import Deadline
from dockyard.host import journal, lease
from dockyard.images.pull import PullResult
from dockyard.pipeline.replace import Replaced
from dockyard.pipeline.up import UpResult
from dockyard.session import DeployRequest, HostStack
from tasks.outcome import Outcome

LEASE_FREE_STEPS = frozenset({"preflight", "lock", "unlock", "diagnostics"})
RESULT_TYPES: journal.Types = {
    "PullResult": PullResult,
    "UpResult": UpResult,
    "Replaced": Replaced,
}
journals = journal.Journals(RESULT_TYPES)


def recovered(
    name: str, journaled: bool, bound: Mapping[str, Any], hs: HostStack, deadline: Deadline,
    run: Callable[[], Outcome],
) -> Outcome | State[Any]:  # fmt: skip
    """`run()` the step `name` (its arguments `bound`) on `hs`, unless the lease is lost or the
    journal says it finished in this attempt (then a Cached state with the recorded result)."""
    request: DeployRequest = bound["request"]
    scope = (request.run_id, bound["host"], bound["project"])
    if name not in LEASE_FREE_STEPS:
        lease.check(request, bound["host"], bound["project"])
    if name == "lock":
        journals.forget(scope)
    if not journaled:
        return run()
    state, attempt = hs.project.state, bound["attempt"]
    key = f"{name} {bound['subject']}" if "subject" in bound else name
    entry = journals.lookup(scope, hs.runner, state, attempt, key, deadline)
    if entry is not None:
        when = time.strftime("%H:%M:%S UTC", time.gmtime(entry.finished_at))
        hs.log(f"{key}: finished at {when} in this attempt (host journal): skipped")
        return Completed(data=Outcome(entry.result, 0), name="Cached",
                         message="finished in this attempt (host journal)")  # fmt: skip
    outcome = run()
    journals.record(scope, hs.runner, state, attempt, key, outcome.value, hs.mask, deadline)
    return outcome
