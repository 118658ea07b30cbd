"""What `lint -c deploy.yaml` lints: each stack's compose files merged as compose merges them,
with the project's environment (the bundle's .env under the stack's env values) and the
config's moving tags, read without SSH keys, registry passwords or secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import yamlsafe
from dockyard.compose_files import ComposeFileError
from dockyard.config.sets import bundle_names, referenced_names, set_problems
from dockyard.config.stack import merged_environment
from dockyard.lint.compose import Finding, interpolate, lint_files, read_dotenv

_SECRET = "${secret:"


class LintConfigError(ComposeFileError):
    """deploy.yaml cannot give lint its stacks; the message names the file, field and fix."""


@dataclass(frozen=True)
class LintStack:
    """One stack to lint: its compose files, the variables compose will see, the moving tags."""

    project: str
    files: tuple[Path, ...]
    variables: Mapping[str, str]
    moving_tags: frozenset[str]


def lint_config(
    config: Path, sets: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> list[Finding]:
    """The findings of every stack of `config` (see `lint_stacks`), stack by stack."""
    return [
        finding
        for stack in lint_stacks(config, sets, environ)
        for finding in lint_files(stack.files, stack.variables, stack.moving_tags)
    ]


def lint_stacks(
    config: Path, sets: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> list[LintStack]:
    """The stacks of `config`; env values interpolate from `sets` over `environ` (default: the
    process environment), and values that need a secret or an unset variable are left out.
    A --set name that is not a variable name, or that nothing uses, is a LintConfigError."""
    environ = os.environ if environ is None else environ
    try:
        text = yamlsafe.read_text(config, "config file")
        doc = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        where = f"{config}:{exc.line}" if exc.line else str(config)
        raise LintConfigError(f"{where}: {exc}; {exc.fix}") from None
    if doc is None:
        raise LintConfigError(f"{config}: the config file is empty; add targets: and stacks:")
    root = _mapping(config, doc, "the config file", "start with targets: and stacks:")
    images = _mapping(config, root.get("images") or {}, "images", "write images: {...}")
    moving = _strings(config, images.get("moving_tags") or [], "images.moving_tags")
    stacks = root.get("stacks")
    if not isinstance(stacks, list) or not stacks:
        raise _error(config, "stacks", "missing or not a list", "add stacks: [- project: ...]")
    used = referenced_names(text) | bundle_names(config.parent, stacks)
    used |= {str(n) for s in stacks if isinstance(s, dict) for n in s.get("required") or []}
    if problems := set_problems(sets, used):
        raise LintConfigError("; ".join(f"{config}: {p.message}; {p.fix}" for p in problems))
    return [
        _stack(config, i, stack, {**environ, **sets}, frozenset(moving))
        for i, stack in enumerate(stacks)
    ]


def _stack(
    config: Path, i: int, raw: Any, variables: Mapping[str, str], moving: frozenset[str]
) -> LintStack:
    at = f"stacks[{i}]"
    stack = _mapping(config, raw, at, "write - project: ... bundle: ...")
    bundle_text = stack.get("bundle", ".")
    if not isinstance(bundle_text, str):
        raise _error(config, f"{at}.bundle", "not a path", "write bundle: ./stack")
    bundle = config.parent / os.path.expanduser(bundle_text)
    if not bundle.is_dir():
        raise _error(
            config, f"{at}.bundle", f"directory {bundle} does not exist",
            "create it or fix the path (relative to the config file)",
        )  # fmt: skip
    names = _strings(config, stack.get("compose_files") or ["docker-compose.yml"],
                     f"{at}.compose_files")  # fmt: skip
    files = tuple(bundle / name for name in names)
    for j, file in enumerate(files):
        if not file.is_file():
            raise _error(
                config, f"{at}.compose_files[{j}]", f"{file} is not a file",
                "create it or fix the name (relative to the bundle)",
            )  # fmt: skip
    env = _mapping(config, stack.get("env") or {}, f"{at}.env", "write env: {NAME: value}")
    merged = merged_environment(read_dotenv(bundle / ".env"), _env(env, variables))
    return LintStack(str(stack.get("project", at)), files, merged, moving)


def _env(env: Mapping[Any, Any], variables: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for name, raw in env.items():
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if raw is None or isinstance(raw, dict | list) or _SECRET in text:
            continue
        try:
            value, unset = interpolate(text, variables)
        except ComposeFileError:
            continue
        if not unset:
            values[str(name)] = value
    return values


def _mapping(config: Path, value: Any, what: str, fix: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise _error(config, what, "not a mapping", fix)
    return value


def _strings(config: Path, value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(config, what, "not a list of strings", f"write {what}: [a, b]")
    return value


def _error(config: Path, field: str, message: str, fix: str) -> LintConfigError:
    return LintConfigError(f"{config}: {field}: {message}; {fix}")
