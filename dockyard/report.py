"""The deploy report: per host its result, steps and images; as JSON and as text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

SUCCEEDED = "succeeded"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
NOT_STARTED = "not started"


@dataclass
class StepReport:
    """One step on one host: its state (Completed, Cached, Failed), seconds, attempts and
    `started`, its start offset in seconds since the host run began (the critical path)."""

    name: str
    state: str
    seconds: float
    attempts: int
    started: float = 0.0


@dataclass
class ImageReport:
    """One image on one host: what the plan decided, why, and what the pull moved."""

    image: str
    services: str
    kind: str
    action: str
    reason: str
    bytes: int = 0
    seconds: float = 0.0


@dataclass
class PruneSection:
    """One prune on one host (the disk gate's or the cleanup's): what it removed, what the
    engine refused to remove, the outcome, and, when the gate still fails, who holds the space."""

    stack: str
    step: str
    outcome: str
    removed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    holders: list[str] = field(default_factory=list)

    def to_markdown(self) -> list[str]:
        lines = [f"### {self.step} prune, stack {self.stack}", "", self.outcome, ""]
        lines += [f"- removed {item}" for item in self.removed]
        lines += [f"- kept (the engine refused) {item}" for item in self.refused]
        if self.holders:
            lines += ["", "Who holds the space:", ""]
            lines += [f"- {holder}" for holder in self.holders]
        return [*lines, ""]


@dataclass
class HostReport:
    """How the deploy went on one host; `started`/`finished` are UTC ISO times (empty for a
    host the rollout did not start, which stays on its release); `unchanged` lists the stacks
    that already ran this release, whose remaining steps were skipped."""

    host: str
    result: str = SUCCEEDED
    error: str = ""
    steps: list[StepReport] = field(default_factory=list)
    images: list[ImageReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    diagnostics: str = ""
    prunes: list[PruneSection] = field(default_factory=list)
    started: str = ""
    finished: str = ""
    unchanged: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)  # each changed stack's diff (markdown)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HostReport:
        """The report from its `asdict` form (as a pool worker's host run sends it back)."""
        return cls(**{
            **data,
            "steps": [StepReport(**s) for s in data.get("steps", [])],
            "images": [ImageReport(**i) for i in data.get("images", [])],
            "prunes": [PruneSection(**p) for p in data.get("prunes", [])],
        })  # fmt: skip


@dataclass
class DeployReport:
    """The whole run; `rollout` lists the rollout's decisions with their reasons."""

    flow_run_id: str
    release: str
    hosts: list[HostReport] = field(default_factory=list)
    rollout: list[str] = field(default_factory=list)

    @property
    def result(self) -> str:
        results = {h.result for h in self.hosts}
        if not results or results == {SUCCEEDED}:
            return SUCCEEDED
        return ROLLED_BACK if results <= {SUCCEEDED, ROLLED_BACK} else FAILED

    @property
    def failed_hosts(self) -> list[str]:
        return [h.host for h in self.hosts if h.result != SUCCEEDED]

    @property
    def not_started(self) -> list[str]:
        return [h.host for h in self.hosts if h.result == NOT_STARTED]

    def summary(self) -> str:
        """One line: the result, the hosts that did not succeed and those not started."""
        started = [h for h in self.failed_hosts if h not in self.not_started]
        parts = [f"on {', '.join(started)}"] if started else []
        if self.not_started:
            parts.append(f"not started: {', '.join(self.not_started)}")
        return " ".join([self.result, *parts])

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "flow_run_id": self.flow_run_id,
            "release": self.release,
            "failed_hosts": self.failed_hosts,
            "not_started": self.not_started,
            "rollout": self.rollout,
            "hosts": {h.host: asdict(h) for h in self.hosts},
        }

    def to_markdown(self, heading: str = "") -> str:
        """The summary artifact: per host steps, images, notes and prunes, under `heading`
        (the deploy's result when not given)."""
        lines = [f"# {heading or f'deploy {self.result}'}", "", f"release `{self.release}`", ""]
        lines += [*(f"- rollout: {line}" for line in self.rollout), ""] if self.rollout else []
        for host in self.hosts:
            lines += [f"## {host.host}: {host.result}", ""]
            if host.error:
                lines += [f"**error:** {host.error}", ""]
            if host.result == NOT_STARTED:
                lines += [*(f"- {note}" for note in host.notes), ""]
                continue
            lines += ["| step | state | start s | seconds | attempts |", "| --- " * 5 + "|"]
            lines += [
                f"| {s.name} | {s.state} | {s.started:.2f} | {s.seconds:.2f} | {s.attempts} |"
                for s in host.steps
            ]
            lines += [
                "",
                "| image | kind | action | reason | bytes | seconds |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            lines += [
                f"| {i.image} | {i.kind} | {i.action} | {i.reason} | {i.bytes} | {i.seconds:.2f} |"
                for i in host.images
            ]
            lines += [f"- {note}" for note in host.notes]
            lines.append("")
            for prune in host.prunes:
                lines += prune.to_markdown()
        return "\n".join(lines)


def deploy_text(report: Mapping[str, Any]) -> str:
    """The deploy report (DeployReport.to_json) as `dockyard deploy` prints it."""
    run = f"flow run {report['flow_run_id']}" if report["flow_run_id"] else "no flow run"
    lines = [f"deploy {report['result']} (release {report['release']}, {run})"]
    for name, host in report["hosts"].items():
        lines.append(
            f"\n{name}: {host['result']}" + (f": {host['error']}" if host["error"] else "")
        )
        for step in host["steps"]:
            attempts = f" x{step['attempts']}" if step["attempts"] > 1 else ""
            lines.append(
                f"  {step['name']:28} {step['state']:10} {step['seconds']:7.2f}s"
                f" @{step.get('started', 0.0):6.2f}s{attempts}"
            )
        for image in host["images"]:
            size = f" {image['bytes'] / 1e6:.1f} MB" if image["bytes"] else ""
            lines.append(f"  {image['action']:6} {image['image']}{size}  ({image['reason']})")
        lines += [f"  note: {note}" for note in host["notes"]]
        if host["diagnostics"]:
            lines.append("\n" + host["diagnostics"])
    return "\n".join(lines)


def rollback_text(report: Mapping[str, Any]) -> str:
    """The rollback report (DeployReport.to_json) as `dockyard rollback` prints it."""
    lines = []
    for name, host in report["hosts"].items():
        error = f": {host['error']}" if host["error"] else ""
        lines.append(f"{name}: {host['result']}{error}")
        lines += [f"  {note}" for note in host["notes"]]
    return "\n".join(lines)
