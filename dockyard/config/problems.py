"""Config problems: where (field path, line), what and the fix; pydantic errors turned into them."""

from __future__ import annotations

import difflib
import types
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from dockyard.config.fields import FieldProblem
from dockyard.errors import DockyardError

Loc = tuple[str | int, ...]
_FIXES = {
    "int_parsing": "use a whole number",
    "int_type": "use a whole number",
    "int_from_float": "use a whole number",
    "float_parsing": "use a number",
    "float_type": "use a number",
    "bool_parsing": "use true or false",
    "bool_type": "use true or false",
    "string_type": "use a string (quote it in YAML)",
    "list_type": "use a YAML list, e.g. [a, b]",
    "dict_type": "use a mapping of key: value",
    "model_type": "use a mapping of key: value",
    "model_attributes_type": "use a mapping of key: value",
    "literal_error": "use one of the values listed",
    "too_short": "add at least one item",
    "string_too_short": "give a non-empty value",
    "greater_than": "raise the value",
    "greater_than_equal": "raise the value",
    "less_than": "lower the value",
    "less_than_equal": "lower the value",
}


def format_loc(loc: Loc) -> str:
    """`('stacks', 0, 'env', 'X')` -> `stacks[0].env.X`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the config: where (`loc`, `line`), what, and how to fix it."""

    loc: Loc
    message: str
    fix: str
    line: int | None = None

    @property
    def field(self) -> str:
        """The field path, e.g. `stacks[0].env.APP_IMAGE` (empty for the whole file)."""
        return format_loc(self.loc)


class ConfigError(DockyardError):
    """The config cannot be used; `problems` lists everything found wrong."""

    def __init__(self, path: Path | str, problems: Sequence[Problem]) -> None:
        self.path = Path(path)
        self.problems = list(problems)
        count = f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}"
        lines = [f"{self.path}: {count}"]
        for p in self.problems:
            where = f"{self.path}:{p.line}" if p.line else str(self.path)
            field = f" {p.field}:" if p.field else ""
            lines.append(f"  {where}:{field} {p.message}\n      fix: {p.fix}")
        super().__init__("\n".join(lines))


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    tp: Any = root
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
    tp = _unwrap(tp)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _unknown_key(root: type[BaseModel], loc: Loc) -> tuple[str, str]:
    model = _model_at(root, loc[:-1])
    allowed = list(model.model_fields) if model else []
    near = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    fix = f"did you mean {near[0]!r}? " if near else "remove it; "
    fix += "allowed keys: " + ", ".join(allowed)
    if len(loc) == 1:
        fix += " (top-level keys starting with x- are ignored, e.g. for YAML anchors)"
    return f"unknown key {loc[-1]!r}", fix


def _clean_loc(loc: Sequence[str | int], data: Any) -> Loc:
    """Drop pydantic's union/validator tags: keep only parts that exist in the data."""
    kept: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        in_dict = isinstance(current, dict) and part in current
        if in_dict or (isinstance(current, list) and isinstance(part, int) and part < len(current)):
            current = current[part]
            kept.append(part)
        elif isinstance(current, dict) and i == len(loc) - 1:
            kept.append(part)
    return tuple(kept)


def validation_problems(
    exc: ValidationError, data: Any, root: type[BaseModel], skip: set[Loc]
) -> list[Problem]:
    problems: dict[Loc, Problem] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = _clean_loc(err["loc"], data)
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, FieldProblem):
            loc, message, fix = (*loc, *error.at), error.message, error.fix
        elif err["type"] == "extra_forbidden":
            message, fix = _unknown_key(root, loc)
        elif err["type"] == "missing":
            message, fix = f"{loc[-1]} is required", f"add {loc[-1]}:"
        else:
            message, fix = err["msg"], _FIXES.get(err["type"], "fix the value")
        if not any(loc[: len(s)] == s for s in skip):
            problems.setdefault(loc, Problem(loc, message, fix))
    return list(problems.values())


def with_lines(problems: list[Problem], lines: dict[Loc, int]) -> list[Problem]:
    """Attach the line of the nearest located key to each problem, in file order."""
    located = []
    for p in problems:
        prefixes = (p.loc[:n] for n in range(len(p.loc), 0, -1))
        line = next((lines[loc] for loc in prefixes if loc in lines), p.line)
        located.append(Problem(p.loc, p.message, p.fix, line))
    return sorted(located, key=lambda p: p.line or 0)
