"""How dockyard tasks retry, time out and cache: transient errors only, keys by release and host."""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import requests
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import Completed, State

from dockyard import journal
from dockyard.config import StepPolicy
from dockyard.errors import DeployError
from dockyard.pipeline import locking
from dockyard.registry import RegistryError
from dockyard.session import DeployRequest, host_stack, load
from dockyard.ssh.errors import ChannelsBusy, CommandTimeout, LinkDown


def is_transient(exc: BaseException | None) -> bool:
    """Errors a retry can fix: a dead link, registry 5xx, timeouts, transient pull errors."""
    if isinstance(exc, LinkDown | CommandTimeout | ChannelsBusy | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, RegistryError | DeployError):
        return bool(getattr(exc, "transient", False))
    return False


def retry_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect retry_condition_fn: retry only transient errors."""
    return is_transient(state.data if isinstance(state.data, BaseException) else None)


def release_key(context: TaskRunContext, parameters: dict[str, Any]) -> str:
    """Cache key: the step, the release (config hash incl. per-deploy values), host, stack
    attempt and the step's own subject (an image, a job)."""
    request: DeployRequest = parameters["request"]
    parts = [
        context.task.name,
        load(request).release,
        parameters.get("host", ""),
        parameters.get("project", ""),
        parameters.get("attempt", ""),
        str(parameters.get("subject", "")),
    ]
    return "dockyard/" + "/".join(parts)


def options(policy: StepPolicy) -> dict[str, Any]:
    """with_options() arguments for a step's configured retries. The step's timeout is enforced
    by dockyard's own I/O bounds: Prefect's timeout_seconds cannot stop a blocked thread."""
    return {
        "retries": policy.retries,
        "retry_delay_seconds": policy.retry_delay,
        "retry_jitter_factor": 0.5,
    }


_attempts: dict[UUID, int] = {}
_attempts_lock = threading.Lock()
F = TypeVar("F", bound=Callable[..., Any])


def step_task(**task_options: Any) -> Callable[[F], Task[..., Any]]:
    """`@step_task(...)` that also notes each run's attempt number, for the step report."""

    def decorate(fn: F) -> Task[..., Any]:
        @functools.wraps(fn)
        def counted(*args: Any, **kwargs: Any) -> Any:
            context = TaskRunContext.get()
            if context is not None and context.task_run is not None:
                with _attempts_lock:
                    _attempts[context.task_run.id] = context.task_run.run_count
            return fn(*args, **kwargs)

        return task(**task_options)(counted)

    return decorate


def attempts(task_run_id: UUID | None) -> int:
    """How many times the task run ran in this process (0 if it did not run: cached)."""
    with _attempts_lock:
        return _attempts.pop(task_run_id, 0) if task_run_id else 0


def cached_step(name: str, run_name: str) -> Callable[[F], Task[..., Any]]:
    """A step done once per release, host and stack attempt: a rerun skips it (Cached)."""
    made = step_task(
        name=name,
        task_run_name=run_name,
        cache_key_fn=release_key,
        persist_result=True,
        retry_condition_fn=retry_transient,
    )
    return lambda fn: made(recovered(name, journaled=True)(fn))


def fresh_step(name: str, run_name: str, **task_options: Any) -> Callable[[F], Task[..., Any]]:
    """A step that runs on every attempt (lock, plan, health, record, diagnostics, cleanup)."""
    made = step_task(
        name=name,
        task_run_name=run_name,
        cache_policy=NO_CACHE,
        retry_condition_fn=retry_transient,
        **task_options,
    )
    return lambda fn: made(recovered(name, journaled=False)(fn))


# --- Recovery hook: the lease check and the host journal around every step ------------------

LEASE_FREE_STEPS = frozenset({"preflight", "lock", "unlock", "diagnostics"})


def recovered(name: str, *, journaled: bool) -> Callable[[F], F]:
    """Before a step: stop if this run lost its lease on the stack (LeaseLost). A journaled
    (cached) step is skipped with its recorded result when the host's journal says it finished
    in this attempt, whatever Prefect's cache holds (a new runner has none), and is journaled
    once it finishes. The skip shows as Cached, like a Prefect cache hit."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def step(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs).arguments
            request, host, project = bound["request"], bound["host"], bound["project"]
            if name not in LEASE_FREE_STEPS:
                locking.check(request, host, project)
            if not journaled:
                return fn(*args, **kwargs)
            hs = host_stack(request, host, project, log=get_run_logger().info)
            run, state, attempt = locking.runner(hs), hs.project.state, bound["attempt"]
            key = f"{name} {bound['subject']}" if "subject" in bound else name
            entry = journal.lookup(run, state, attempt, key)
            if entry is not None:
                when = time.strftime("%H:%M:%S UTC", time.gmtime(entry.finished_at))
                hs.log(f"{key}: finished at {when} in this attempt (host journal): skipped")
                return Completed(data=entry.result, name="Cached",
                                 message="finished in this attempt (host journal)")  # fmt: skip
            result = fn(*args, **kwargs)
            journal.record(run, state, attempt, key, result, hs.mask)
            return result

        return step  # type: ignore[return-value]

    return decorate
