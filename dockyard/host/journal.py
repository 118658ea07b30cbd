"""The attempt journal on the host: which steps of a release's attempt finished, with results.

It is the truth a rerun resumes from (Prefect's cache is only the fast path): one small JSON
file per finished step under .dockyard/journal/<attempt>/, written through a temp file and
`mv`. Results are JSON; dataclass results (PullResult, UpResult) are tagged with their type.
A deploy reads an attempt's whole journal in one round trip and keeps it (`Journals`); each
finished step is still written to the host at once."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from dockyard.commands.hoststate.paths import HostState, entry_name, write_atomic
from dockyard.commands.shell import quote
from dockyard.deadline import Deadline
from dockyard.errors import DeployError
from dockyard.images.pull import PullResult
from dockyard.masking import Masker
from dockyard.pipeline.up import UpResult
from dockyard.runner import Runner

CALL_TIMEOUT = 30.0
TYPES: dict[str, type] = {"PullResult": PullResult, "UpResult": UpResult}


class JournalError(DeployError):
    """A journal entry on the host could not be read back."""


@dataclass(frozen=True)
class Entry:
    """A finished step: its key, when it finished (host-independent wall time), its result."""

    step: str
    finished_at: float
    result: Any


def encode(value: Any) -> Any:
    """A step result as JSON data; registered dataclasses carry their type name."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        name = type(value).__name__
        if TYPES.get(name) is not type(value):
            raise TypeError(f"{name} is not a journal result type (dockyard.host.journal.TYPES)")
        return {"__type__": name, **encode(dataclasses.asdict(value))}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"{type(value).__name__} cannot be kept in the journal")


def decode(data: Any) -> Any:
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict):
        fields = {k: decode(v) for k, v in data.items() if k != "__type__"}
        name = data.get("__type__")
        return TYPES[name](**fields) if name in TYPES else fields
    return data


def _deadline() -> Deadline:
    return Deadline("journal", CALL_TIMEOUT)


def _entry(name: str, text: str) -> Entry:
    try:
        data = json.loads(text)
        return Entry(data["step"], float(data["finished_at"]), decode(data["result"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"journal entry {name} is unreadable ({exc}); remove it to run the "
                           "step again") from exc  # fmt: skip


def read_attempt(runner: Runner, state: HostState, attempt: str) -> dict[str, Entry]:
    """Every finished step of `attempt`, by entry file name, in one round trip."""
    directory = state.journal(attempt)
    script = (f"for f in {quote(directory)}/*.json; do [ -f \"$f\" ] || continue; "
              'printf \'%s\\t\' "${f##*/}"; cat "$f"; echo; done; true')  # fmt: skip
    text = runner.run(script, deadline=_deadline(), quiet=True).stdout
    entries: dict[str, Entry] = {}
    for line in text.splitlines():
        name, tab, content = line.partition("\t")
        if not tab or not name.endswith(".json"):
            raise JournalError(f"the journal in {directory} holds an unreadable entry; remove "
                               "it to run its step again")  # fmt: skip
        entries[name.removesuffix(".json")] = _entry(f"{directory}/{name}", content)
    return entries


def record(
    runner: Runner, state: HostState, attempt: str, step: str, result: Any, masker: Masker
) -> Entry:
    """Write `step`'s entry atomically. The text is masked: no secret reaches the host file."""
    entry = Entry(step, time.time(), result)
    text = json.dumps({"step": step, "finished_at": entry.finished_at, "result": encode(result)})
    path = state.journal_entry(attempt, step)
    runner.run(write_atomic(path), deadline=_deadline(), stdin=masker(text).encode(),
               quiet=True)  # fmt: skip
    return entry


class Journals:
    """This process's copy of the attempt journals it works on, one per `scope` (a run's host
    and stack): read from the host once per attempt, then kept current with this process's
    own records. `forget(scope)` makes the next lookup read the host again (a new lease)."""

    def __init__(self) -> None:
        self._read: dict[Hashable, tuple[str, dict[str, Entry]]] = {}
        self._reading: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def _entries(self, scope: Hashable, runner: Runner, state: HostState,
                 attempt: str) -> dict[str, Entry]:  # fmt: skip
        """The scope's copy, read from the host under the scope's own lock: one host's read
        never waits for another's."""
        with self._lock:
            reading = self._reading.setdefault(scope, threading.Lock())
        with reading:
            with self._lock:
                held = self._read.get(scope)
            if held is None or held[0] != attempt:
                held = (attempt, read_attempt(runner, state, attempt))
                with self._lock:
                    self._read[scope] = held
            return held[1]

    def lookup(self, scope: Hashable, runner: Runner, state: HostState, attempt: str,
               step: str) -> Entry | None:  # fmt: skip
        """The entry of `step` in `attempt`, or None if it has not finished there."""
        return self._entries(scope, runner, state, attempt).get(entry_name(step))

    def record(self, scope: Hashable, runner: Runner, state: HostState, attempt: str, step: str,
               result: Any, masker: Masker) -> Entry:  # fmt: skip
        """Write `step`'s entry to the host (`record`), then keep it."""
        entries = self._entries(scope, runner, state, attempt)
        entry = record(runner, state, attempt, step, result, masker)
        with self._lock:
            entries[entry_name(step)] = entry
        return entry

    def forget(self, scope: Hashable) -> None:
        with self._lock:
            self._read.pop(scope, None)
