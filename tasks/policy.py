"""How dockyard tasks retry, time out, mask and cache: the one boundary between core and Prefect.

Every step task is made by `cached_step` or `fresh_step`. Each try of a step runs under one
Deadline from its `steps.<name>.timeout`, with its HostStack resolved once (tasks/context.py),
inside the recovery hook (tasks/recovery.py); the exception leaving a step (with its causes)
passes the config's masker, its result does not (the next step uses it as it is: output is
masked where it leaves, in log lines, the report and artifacts); only errors whose `transient` is
retried."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import requests
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import State

from dockyard.config import StepPolicy
from dockyard.deadline import Deadline
from dockyard.errors import DockyardError
from dockyard.session import DeployRequest, load
from tasks import recovery
from tasks.context import running
from tasks.outcome import Outcome

F = TypeVar("F", bound=Callable[..., Any])


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


def _bounded(name: str, journaled: bool, fn: F) -> F:
    """Run `fn` on its HostStack under the step's Deadline, inside the recovery hook; mask any
    exception it raises (its text leaves the step: Prefect's state message and log), never its
    result."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs).arguments
        loaded = load(bound["request"])
        context = TaskRunContext.get()
        attempt = context.task_run.run_count if context and context.task_run else 1
        logger = get_run_logger()
        hs = loaded.host_stack(bound["host"], bound["project"],
                               log=lambda line: logger.info(loaded.masker(line)))  # fmt: skip
        deadline = Deadline(name, loaded.config.steps.policy(name).timeout)
        try:
            with running(hs, deadline):
                return recovery.recovered(
                    name, journaled, bound, hs, deadline,
                    lambda: Outcome(fn(*args, **kwargs), attempt),
                )  # fmt: skip
        except Exception as exc:
            masked = loaded.masker.exception(exc)
            masked.attempts = attempt  # type: ignore[attr-defined]
            raise masked from masked.__cause__

    return bounded  # type: ignore[return-value]


def _step(
    name: str, run_name: str, journaled: bool, **task_options: Any
) -> Callable[[F], Task[..., Any]]:
    def decorate(fn: F) -> Task[..., Any]:
        return task(
            name=name, task_run_name=run_name, retry_condition_fn=retry_transient, **task_options
        )(_bounded(name, journaled, fn))

    return decorate


def cached_step(name: str, run_name: str) -> Callable[[F], Task[..., Any]]:
    """A step done once per release, host and stack attempt: a rerun skips it (Cached)."""
    return _step(name, run_name, True, cache_key_fn=release_key, persist_result=True)


def fresh_step(name: str, run_name: str) -> Callable[[F], Task[..., Any]]:
    """A step that runs on every attempt (lock, plan, health, record, diagnostics, cleanup)."""
    return _step(name, run_name, False, cache_policy=NO_CACHE)
