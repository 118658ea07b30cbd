"""Read a stack's host facts in one round trip: engine, disk, images, containers, lock, head."""

from __future__ import annotations

from dockyard.commands.facts import host_facts
from dockyard.deadline import Deadline
from dockyard.hostfacts import HostFacts, parse
from dockyard.session import HostStack

FACTS_CAP = 60.0


def read_facts(hs: HostStack, deadline: Deadline) -> HostFacts:
    """The facts of `hs`'s host and stack, from one remote script."""
    script = host_facts(hs.stack.project, hs.project.state)
    out = hs.runner.run(script, deadline=deadline, cap=FACTS_CAP, quiet=True)
    return parse(out.stdout, hs.target.name)
