"""`--set NAME=value` checks: each NAME must be a variable name that the config, its stacks'
compose files or their bundles' `.env` use; a typo is an error with a did-you-mean."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from dockyard import yamlsafe
from dockyard.config.problems import Problem
from dockyard.names import ENV_NAME

_REFERENCE = re.compile(rf"\$\{{?(?P<name>{ENV_NAME.pattern})")
_DOTENV_KEY = re.compile(rf"^\s*(?:export\s+)?(?P<name>{ENV_NAME.pattern})\s*=", re.M)
_DEFAULT_COMPOSE = "docker-compose.yml"


def referenced_names(text: str) -> set[str]:
    """Every NAME a text refers to as `$NAME` or `${NAME...}` (`$$` escapes ignored)."""
    return {m["name"] for m in _REFERENCE.finditer(text.replace("$$", ""))}


def bundle_names(config_dir: Path, stacks: Any) -> set[str]:
    """The variable names the raw `stacks` section's compose files and bundle `.env` files use
    (files that cannot be read are left out: validate reports them)."""
    names: set[str] = set()
    for stack in stacks if isinstance(stacks, list) else []:
        if not isinstance(stack, dict) or not isinstance(stack.get("bundle", "."), str):
            continue
        bundle = config_dir / os.path.expanduser(stack.get("bundle", "."))
        files = stack.get("compose_files") or [_DEFAULT_COMPOSE]
        for name in files if isinstance(files, list) else []:
            names |= referenced_names(_text(bundle / str(name)))
        dotenv = _text(bundle / ".env")
        names |= {m["name"] for m in _DOTENV_KEY.finditer(dotenv)} | referenced_names(dotenv)
    return names


def _text(path: Path) -> str:
    try:
        return yamlsafe.read_text(path, "file") if path.is_file() else ""
    except (OSError, yamlsafe.YamlProblem):
        return ""


def set_problems(sets: Mapping[str, str], used: Collection[str]) -> list[Problem]:
    """A problem for each --set name that is not a variable name or that nothing uses."""
    problems = []
    for name in sets:
        if not ENV_NAME.fullmatch(name):
            problems.append(
                Problem(
                    (),
                    f"--set {name!r}=...: {name!r} is not a variable name",
                    "use letters, digits and _, not starting with a digit: --set NAME=value",
                )
            )
        elif name not in used:
            problems.append(
                Problem(
                    (),
                    f"--set {name}: no ${{{name}}} in the config, its compose files or the "
                    "bundle's .env, so the value would go nowhere",
                    _unused_fix(name, used),
                )
            )
    return problems


def _unused_fix(name: str, used: Iterable[str]) -> str:
    near = difflib.get_close_matches(name, sorted(used), n=1, cutoff=0.6)
    if near:
        return f"did you mean --set {near[0]}=...?"
    return f"drop it, or use ${{{name}}} in stacks[].env"
