"""How dockyard tasks retry, time out, mask and cache: the one boundary between core and Prefect.

Every step task is made by `cached_step` or `fresh_step`. Each try of a step runs under one
Deadline from its `steps.<name>.timeout`; the exception leaving a step (with its causes) passes
the config's masker, its result does not (the next step uses it as it is: output is masked where
it leaves, in log lines, the report and artifacts); only errors whose `transient` is true are
retried."""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import Completed, State

from dockyard import journal
from dockyard.config import StepPolicy
from dockyard.deadline import Deadline
from dockyard.errors import DockyardError
from dockyard.pipeline import locking
from dockyard.session import DeployRequest, host_stack, load

F = TypeVar("F", bound=Callable[..., Any])
_deadline: contextvars.ContextVar[Deadline] = contextvars.ContextVar("dockyard_step_deadline")


@dataclass(frozen=True)
class Outcome:
    """What a step task returns: its value and the try that produced it."""

    value: Any
    attempts: int


def is_transient(exc: BaseException | None) -> bool:
    """Errors a retry can fix: dockyard errors that say so (a dead link, registry 5xx, a step
    timeout, a transient pull error), and the socket-level timeouts and resets of libraries."""
    if isinstance(exc, DockyardError):
        return exc.transient
    return isinstance(
        exc,
        TimeoutError
        | ConnectionError
        | requests.exceptions.ConnectionError
        | requests.exceptions.Timeout,
    )


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
    """with_options() arguments for a step's configured retries. Its timeout is the Deadline
    each try runs under: Prefect's timeout_seconds cannot stop a blocked thread."""
    return {
        "retries": policy.retries,
        "retry_delay_seconds": policy.retry_delay,
        "retry_jitter_factor": 0.5,
    }


def current_deadline() -> Deadline:
    """The Deadline of the step task running in this context."""
    return _deadline.get()


def _bounded(name: str, fn: F) -> F:
    """Run `fn` under the step's Deadline; mask any exception it raises (its text leaves the
    step: Prefect's state message and log), never its result."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def bounded(*args: Any, **kwargs: Any) -> Outcome:
        request: DeployRequest = signature.bind(*args, **kwargs).arguments["request"]
        loaded = load(request)
        context = TaskRunContext.get()
        attempt = context.task_run.run_count if context and context.task_run else 1
        token = _deadline.set(Deadline(name, loaded.config.steps.policy(name).timeout))
        try:
            return Outcome(fn(*args, **kwargs), attempt)
        except Exception as exc:
            masked = loaded.masker.exception(exc)
            masked.attempts = attempt  # type: ignore[attr-defined]
            raise masked from masked.__cause__
        finally:
            _deadline.reset(token)

    return bounded  # type: ignore[return-value]


def _step(
    name: str, run_name: str, journaled: bool, **task_options: Any
) -> Callable[[F], Task[..., Any]]:
    def decorate(fn: F) -> Task[..., Any]:
        return task(
            name=name, task_run_name=run_name, retry_condition_fn=retry_transient, **task_options
        )(recovered(name, journaled=journaled)(_bounded(name, fn)))

    return decorate


def cached_step(name: str, run_name: str) -> Callable[[F], Task[..., Any]]:
    """A step done once per release, host and stack attempt: a rerun skips it (Cached)."""
    return _step(name, run_name, True, cache_key_fn=release_key, persist_result=True)


def fresh_step(name: str, run_name: str) -> Callable[[F], Task[..., Any]]:
    """A step that runs on every attempt (lock, plan, health, record, diagnostics, cleanup)."""
    return _step(name, run_name, False, cache_policy=NO_CACHE)


# --- Recovery hook: the lease check and the host journal around every step ------------------

LEASE_FREE_STEPS = frozenset({"preflight", "lock", "unlock", "diagnostics"})
_journals = journal.Journals()


def recovered(name: str, *, journaled: bool) -> Callable[[F], F]:
    """Before a step: stop if this run lost its lease on the stack (LeaseLost). A journaled
    (cached) step is skipped with its recorded result when the host's journal says it finished
    in this attempt, whatever Prefect's cache holds (a new runner has none), and is journaled
    once it finishes. The skip shows as Cached, like a Prefect cache hit. The journal is read
    from the host once per lease (the lock step drops the copy this run kept)."""

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def step(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs).arguments
            request, host, project = bound["request"], bound["host"], bound["project"]
            scope = (request.run_id, host, project)
            if name not in LEASE_FREE_STEPS:
                locking.check(request, host, project)
            if name == "lock":
                _journals.forget(scope)
            if not journaled:
                return fn(*args, **kwargs)
            hs = host_stack(request, host, project, log=get_run_logger().info)
            run, state, attempt = locking.runner(hs), hs.project.state, bound["attempt"]
            key = f"{name} {bound['subject']}" if "subject" in bound else name
            entry = _journals.lookup(scope, run, state, attempt, key)
            if entry is not None:
                when = time.strftime("%H:%M:%S UTC", time.gmtime(entry.finished_at))
                hs.log(f"{key}: finished at {when} in this attempt (host journal): skipped")
                return Completed(data=Outcome(entry.result, 0), name="Cached",
                                 message="finished in this attempt (host journal)")  # fmt: skip
            outcome: Outcome = fn(*args, **kwargs)
            _journals.record(scope, run, state, attempt, key, outcome.value, hs.mask)
            return outcome

        return step  # type: ignore[return-value]

    return decorate
