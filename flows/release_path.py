"""Run the steps between the plan and stop-first as their critical path says (each a task).

dockyard/pipeline/critical_path.py decides what waits for what; this module only starts each
step in a thread once it may run. When a step fails, nothing new starts, the running steps
finish, and the first failure is raised (the others are noted): each finished step is journaled
by its task, so a rerun resumes at the failed one."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from dockyard.config import StackConfig
from dockyard.disk.gate import DiskGate
from dockyard.host.facts import HostFacts
from dockyard.host.releases import Release
from dockyard.pipeline.critical_path import ReleasePath, release_path, room_to_spare
from dockyard.pipeline.images import StackPlan
from dockyard.session import DeployRequest, Loaded
from flows.hosts import Step, in_thread
from tasks import images as image_tasks
from tasks import release as release_tasks
from tasks import stack as stack_tasks


def run_path(path: ReleasePath, start: dict[str, Callable[[], Any]], note: Callable[[str], None],
             ) -> dict[str, Any]:  # fmt: skip
    """Each step of `path` (by label, `start[label]()` runs it) once it may run; returns the
    results by label, or raises the first failure once the running steps finished."""
    results: dict[str, Any] = {}
    failures: list[tuple[str, BaseException]] = []
    running: dict[Future[Any], str] = {}
    with ThreadPoolExecutor(len(path.nodes), thread_name_prefix="path") as pool:
        while True:
            if not failures:
                for label in path.ready(results, [*results, *running.values()]):
                    running[in_thread(pool, start[label])] = label
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                label = running.pop(future)
                if (exc := future.exception()) is not None:
                    failures.append((label, exc))
                else:
                    results[label] = future.result()
    if failures:
        for label, exc in failures[1:]:
            note(f"{label} failed too: {type(exc).__name__}: {exc}")
        not_started = [n.label for n in path.nodes if n.label not in results
                       and all(n.label != f for f, _ in failures)]  # fmt: skip
        if not_started:
            note(f"not started ({failures[0][0]} failed): {', '.join(not_started)}")
        raise failures[0][1]
    return results


def stage_and_pull(
    step: Step, request: DeployRequest, loaded: Loaded, host: str, stack: StackConfig,
    facts: HostFacts, stack_plan: StackPlan, attempt: str, protected: list[str],
) -> list[Release]:  # fmt: skip
    """verify, sync, env, the release history, the disk gate, the pulls and the jobs of one
    stack on its critical path; returns the release history (for a rollback)."""
    report, p = step.report, stack.project
    disk = loaded.config.disk
    gate_clear = room_to_spare(facts.disk, DiskGate(disk.min_free_gb, disk.max_used_pct))
    to_pull = {f"pull {d.ref.short}": d for d in stack_plan.plan.to_pull()}
    jobs = {f"job {j.name}": j for j in stack.jobs}
    path = release_path(list(to_pull), list(jobs), not gate_clear, loaded.config.images.parallel)
    linked = stack_plan.resolved.linked
    start: dict[str, Callable[[], Any]] = {
        "verify": lambda: step(image_tasks.verify_images, request, host, p, attempt, stack_plan),
        "sync": lambda: step(stack_tasks.sync_bundle, request, host, p, attempt, linked),
        "env": lambda: step(stack_tasks.write_env, request, host, p, attempt),
        "releases": lambda: step(release_tasks.read_releases, request, host, p),
        "disk": lambda: step(stack_tasks.disk_gate, request, host, p, facts, protected),
    }
    for label, d in to_pull.items():
        start[label] = _pull(step, request, host, p, attempt, label, d)
    for label, j in jobs.items():
        start[label] = _job(step, request, host, p, attempt, label, j)
    if not gate_clear:
        report.notes.append(f"{p}: pulls wait for the disk gate (the host facts show less than "
                            "the gate's thresholds plus 10 GB free)")  # fmt: skip
    results = run_path(path, start, lambda line: report.notes.append(loaded.masker(line)))
    pruned = results["disk"]
    if pruned.steps:
        report.prunes.append(pruned.section(p, "disk gate"))
    by_image = {i.image: i for i in report.images}
    for label, d in to_pull.items():
        pulled, cached = results[label]
        if not cached:
            by_image[d.image].bytes = pulled.bytes
            by_image[d.image].seconds = pulled.seconds
    return results["releases"]


def _pull(step: Step, request: DeployRequest, host: str, project: str, attempt: str, label: str,
          decision: Any) -> Callable[[], Any]:  # fmt: skip
    """One image's pull task (retried alone); returns its result and whether it was cached."""
    return lambda: step.outcome(image_tasks.pull_image, request, host, project, attempt,
                                decision.image, decision, label=label,
                                run_name=f"{label} on {host}")  # fmt: skip


def _job(step: Step, request: DeployRequest, host: str, project: str, attempt: str, label: str,
         job: Any) -> Callable[[], Any]:  # fmt: skip
    """One job's task; a job that is not rerun_safe is never retried (a migration runs once)."""
    return lambda: step(stack_tasks.run_job, request, host, project, attempt, job.name,
                        label=label, retries=job.retries if job.rerun_safe else 0)  # fmt: skip
