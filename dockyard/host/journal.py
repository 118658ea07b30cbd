"""The attempt journal on the host: which steps of a release's attempt finished, with results.

It is the truth a rerun resumes from (Prefect's cache is only the fast path): one small JSON
file per finished step under .dockyard/journal/<attempt>/, written through a temp file and
`mv`. Results are JSON; dataclass results are tagged with their type name, and decoded with
the types the caller registers (`Types`: the journal itself knows no step's result type).
A deploy reads an attempt's whole journal in one round trip and keeps it (`Journals`); each
finished step is still written to the host at once."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.commands.hoststate.paths import HostState, entry_name, write_atomic
from dockyard.commands.shell import quote
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.masking import Masker
from dockyard.runner import Runner

CALL_TIMEOUT = 30.0
Types = Mapping[str, type]  # the dataclass result types a journal keeps, by class name


class JournalError(DeployError):
    """A journal entry on the host could not be read back."""


@dataclass(frozen=True)
class Entry:
    """A finished step: its key, when it finished (host-independent wall time), its result."""

    step: str
    finished_at: float
    result: Any


def encode(value: Any, types: Types) -> Any:
    """A step result as JSON data; dataclasses of `types` carry their type name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if types.get(name) is not type(value):
            raise TypeError(f"{name} is not a journal result type (not in the journal's types)")
        return {"__type__": name, **encode(dataclasses.asdict(value), types)}
    if isinstance(value, list | tuple):
        return [encode(v, types) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v, types) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} cannot be kept in the journal")


def decode(data: Any, types: Types) -> Any:
    if isinstance(data, list):
        return [decode(v, types) for v in data]
    if isinstance(data, dict):
        fields = {k: decode(v, types) for k, v in data.items() if k != "__type__"}
        name = data.get("__type__")
        return types[name](**fields) if name in types else fields
    return data


def _entry(name: str, text: str, types: Types) -> Entry:
    try:
        data = json.loads(text)
        return Entry(data["step"], float(data["finished_at"]), decode(data["result"], types))
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"journal entry {name} is unreadable ({exc}); remove it to run the "
                           "step again") from exc  # fmt: skip


def read_attempt(runner: Runner, state: HostState, attempt: str, deadline: Deadline,
                 types: Types) -> dict[str, Entry]:  # fmt: skip
    """Every finished step of `attempt`, by entry file name, in one round trip (within the
    caller's deadline, CALL_TIMEOUT at most)."""
    directory = state.journal(attempt)
    script = (f"for f in {quote(directory)}/*.json; do [ -f \"$f\" ] || continue; "
              'printf \'%s\\t\' "${f##*/}"; cat "$f"; echo; done; true')  # fmt: skip
    text = runner.run(script, deadline=deadline, cap=CALL_TIMEOUT, quiet=True).stdout
    entries: dict[str, Entry] = {}
    for line in text.splitlines():
        name, tab, content = line.partition("\t")
        if not tab or not name.endswith(".json"):
            raise JournalError(f"the journal in {directory} holds an unreadable entry; remove "
                               "it to run its step again")  # fmt: skip
        entries[name.removesuffix(".json")] = _entry(f"{directory}/{name}", content, types)
    return entries


def record(
    runner: Runner, state: HostState, attempt: str, step: str, result: Any, masker: Masker,
    deadline: Deadline, types: Types,
) -> Entry:  # fmt: skip
    """Write `step`'s entry atomically. The text is masked: no secret reaches the host file."""
    entry = Entry(step, time.time(), result)
    data = {"step": step, "finished_at": entry.finished_at, "result": encode(result, types)}
    path = state.journal_entry(attempt, step)
    text = masker(json.dumps(data)).encode()
    runner.run(write_atomic(path, len(text)), deadline=deadline, cap=CALL_TIMEOUT, stdin=text,
               quiet=True)  # fmt: skip
    return entry


class Journals:
    """This process's copy of the attempt journals it works on, one per `scope` (a run's host
    and stack): read from the host once per attempt, then kept current with this process's
    own records. `forget(scope)` makes the next lookup read the host again (a new lease).
    `types` are the dataclass result types its entries may hold."""

    def __init__(self, types: Types) -> None:
        self.types = types
        self._read: dict[Hashable, tuple[str, dict[str, Entry]]] = {}
        self._reading: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _entries(self, scope: Hashable, runner: Runner, state: HostState, attempt: str,
                 deadline: Deadline) -> dict[str, Entry]:  # fmt: skip
        """The scope's copy, read from the host under the scope's own lock: one host's read
        never waits for another's."""
        with self._lock:
            reading = self._reading.setdefault(scope, threading.Lock())
        with reading:
            with self._lock:
                held = self._read.get(scope)
            if held is None or held[0] != attempt:
                held = (attempt, read_attempt(runner, state, attempt, deadline, self.types))
                with self._lock:
                    self._read[scope] = held
            return held[1]

    def lookup(self, scope: Hashable, runner: Runner, state: HostState, attempt: str,
               step: str, deadline: Deadline) -> Entry | None:  # fmt: skip
        """The entry of `step` in `attempt`, or None if it has not finished there."""
        return self._entries(scope, runner, state, attempt, deadline).get(entry_name(step))

    def record(self, scope: Hashable, runner: Runner, state: HostState, attempt: str, step: str,
               result: Any, masker: Masker, deadline: Deadline) -> Entry:  # fmt: skip
        """Write `step`'s entry to the host (`record`), then keep it."""
        entries = self._entries(scope, runner, state, attempt, deadline)
        entry = record(runner, state, attempt, step, result, masker, deadline, self.types)
        with self._lock:
            entries[entry_name(step)] = entry
        return entry

    def forget(self, scope: Hashable) -> None:
        with self._lock:
            self._read.pop(scope, None)
