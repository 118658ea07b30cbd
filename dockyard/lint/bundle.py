"""Check a stack's bundle for `dockyard validate`, without contacting a host: compose files
parse, the files they include, extend, read as env_file, secrets or configs and the build
contexts exist inside the bundle, `${VAR:?message}` is set in the project's environment, and
services the config names exist (symlinks out of the bundle are the config loader's check).
`validate` puts these and the config's own problems in one report."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard import yamlsafe
from dockyard.commands.compose import ENV_FILE
from dockyard.compose import startfirst
from dockyard.compose.dotenv import DotenvError
from dockyard.compose.files import ComposeDoc, ComposeFileError, ComposeSet, Ref
from dockyard.config import ConfigError, DeployConfig, Problem, StackConfig, load_config
from dockyard.config.stack import project_environment
from dockyard.lint.compose import expand

_MISSING_FIX = "create it in the bundle or fix the path (relative to the file that names it)"
_OUTSIDE_FIX = "move it into the bundle (only the bundle is uploaded)"
_FIELD_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class BundleProblem:
    """One thing wrong with a bundle: the config field it comes from, where/what, and the fix."""

    field: str
    text: str
    fix: str

    def __str__(self) -> str:
        return f"{self.field}: {self.text}; {self.fix}"

    def as_problem(self) -> Problem:
        """The same problem in the config's report format (field path, message, fix)."""
        loc = tuple(
            int(index) if index else name for name, index in _FIELD_PART.findall(self.field)
        )
        return Problem(loc, self.text, self.fix)


def validate(
    path: Path | str, variables: Mapping[str, str] | None = None, **load: Any
) -> DeployConfig:
    """Load the config and check every stack's bundle; raises one ConfigError listing the
    config's problems and the bundles' problems together (bundles of a config that does not
    load are checked as far as its raw stacks allow)."""
    try:
        config = load_config(path, variables, **load)
    except ConfigError as exc:
        raise ConfigError(exc.path, [*exc.problems, *_raw_bundle_problems(Path(path))]) from None
    if problems := check_bundles(config):
        raise ConfigError(path, [p.as_problem() for p in problems])
    return config


def _raw_bundle_problems(path: Path) -> list[Problem]:
    """Bundle problems of a config that failed to load, from its raw stacks (those whose bundle
    and compose files exist: the config's problems already name the rest)."""
    try:
        raw = yamlsafe.load(yamlsafe.read_text(path, "config file"))
    except (yamlsafe.YamlProblem, RecursionError):
        return []
    stacks = raw.get("stacks") if isinstance(raw, dict) else None
    found = []
    for i, stack in enumerate(stacks if isinstance(stacks, list) else []):
        bundle_text = stack.get("bundle") if isinstance(stack, dict) else None
        names = stack.get("compose_files") or ["docker-compose.yml"]
        if not isinstance(bundle_text, str) or not isinstance(names, list):
            continue
        bundle = path.parent / os.path.expanduser(bundle_text)
        env = stack.get("env") if isinstance(stack.get("env"), dict) else {}
        files = [str(n) for n in names if (bundle / str(n)).is_file()]
        if bundle.is_dir():
            text_env = {str(k): str(v) for k, v in env.items() if isinstance(v, str | int | float)}
            environment = project_environment(bundle, text_env)
            found += check_files(bundle, files, environment, f"stacks[{i}]", [])
    return [p.as_problem() for p in found]


def check_bundles(config: DeployConfig) -> list[BundleProblem]:
    """Every problem in every stack's bundle, stack by stack."""
    return [p for i, stack in enumerate(config.stacks) for p in check_stack(stack, f"stacks[{i}]")]


def check_stack(stack: StackConfig, at: str) -> list[BundleProblem]:
    """The problems of one stack's bundle; `at` is its field path (e.g. `stacks[0]`)."""
    try:
        environment = project_environment(stack.bundle, stack.revealed_env())
    except DotenvError as exc:
        return [BundleProblem(f"{at}.bundle", str(exc), "fix the bundle's .env (compose reads it)")]
    problems = check_files(stack.bundle, stack.compose_files, environment, at,
                           stack.service_refs())  # fmt: skip
    return problems + _start_first_problems(stack, at, environment)


def _start_first_problems(
    stack: StackConfig, at: str, environment: Mapping[str, Any]
) -> list[BundleProblem]:
    """Services in up.start_first that cannot run twice side by side, from the compose files
    merged as compose merges them (ports add up, other keys: the last file wins), their
    values interpolated with the project's environment. Unreadable files are reported by
    check_files, so they are skipped here."""
    if not stack.up.start_first:
        return []
    services: dict[str, dict[str, Any]] = {}
    for name in stack.compose_files:
        try:
            doc = yamlsafe.load(yamlsafe.read_text(stack.bundle / name, "compose file"))
        except (yamlsafe.YamlProblem, OSError, RecursionError):
            return []
        found = doc.get("services") if isinstance(doc, dict) else None
        for service, spec in (found if isinstance(found, dict) else {}).items():
            merged = services.setdefault(str(service), {})
            for key, value in (spec if isinstance(spec, dict) else {}).items():
                if key == "ports" and isinstance(value, list):
                    merged["ports"] = [*merged.get("ports", []), *value]
                else:
                    merged[key] = value
    variables = {k: str(v) for k, v in environment.items()}
    for spec in services.values():
        if isinstance(spec.get("ports"), list):
            spec["ports"] = [_interpolated(p, variables) for p in spec["ports"]]
        if isinstance(spec.get("container_name"), str):
            spec["container_name"] = _interpolated(spec["container_name"], variables)
    index = {name: i for i, name in reversed(list(enumerate(stack.up.start_first)))}
    return [
        BundleProblem(
            f"{at}.up.start_first[{index[u.service]}]", f"service {u.service} {u.problem}", u.fix
        )
        for u in startfirst.unsafe(
            services, stack.up.start_first, startfirst.job_like(stack), stack.up.http_check
        )
    ]


def _interpolated(value: Any, variables: Mapping[str, str]) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return expand(value, variables)[0]
    except ComposeFileError:
        return value


def check_files(
    bundle: Path,
    compose_files: Sequence[str],
    environment: Mapping[str, Any],
    at: str,
    service_refs: Sequence[tuple[str, str]],
) -> list[BundleProblem]:
    """The problems of a bundle's compose files read with the project's `environment`."""
    problems: list[BundleProblem] = []
    files = ComposeSet()
    services: set[str] = set()
    parsed = True
    project_file = bundle / compose_files[0] if compose_files else bundle / "compose.yaml"
    for i, name in enumerate(compose_files):
        field = f"{at}.compose_files[{i}]"
        found, names = _compose_tree(files, bundle, bundle / name, project_file, environment)
        problems += [BundleProblem(field, text, fix) for text, fix in found]
        parsed = parsed and names is not None
        services |= names or set()
    if parsed:
        known = ", ".join(sorted(services)) or "none"
        problems += [
            BundleProblem(
                f"{at}.{field}",
                f"service {service!r} is not in the compose files",
                f"use one of: {known}",
            )
            for field, service in service_refs
            if service not in services
        ]
    return problems


def _compose_tree(
    files: ComposeSet, bundle: Path, top: Path, project_file: Path, environment: Mapping[str, Any]
) -> tuple[list[tuple[str, str]], set[str] | None]:
    """Problems of `top` and the files it includes, and its service names (None when a file
    could not be read, so service names cannot be checked). Paths in `top` resolve against the
    project directory (that of `project_file`, the first compose file), as `compose -f a -f b`
    resolves them; paths in an included file against that file's own directory."""
    problems: list[tuple[str, str]] = []
    names: set[str] | None = set()
    pending, seen = [top], set[Path]()
    while pending:
        path = pending.pop(0)
        anchor = project_file if path == top else path
        if Path(os.path.abspath(path)) in seen:
            continue
        seen.add(Path(os.path.abspath(path)))
        try:
            doc = files.doc(path)
        except ComposeFileError as exc:
            problems.append((exc.what or str(exc), exc.fix or "fix the compose file"))
            names = None
            continue
        for ref in doc.includes:
            if found := _missing(bundle, doc.path, ref, "include"):
                problems.append(found)
                names = None
            else:
                pending.append(ref.path(doc.path))
        problems += _service_files(files, bundle, doc, anchor)
        problems += list(_required_variables(doc, environment))
        if names is not None:
            names |= set(doc.services)
    return problems, names


def _service_files(
    files: ComposeSet, bundle: Path, doc: ComposeDoc, anchor: Path
) -> list[tuple[str, str]]:
    """Missing files of `doc`'s services and top-level secrets/configs; relative paths resolve
    against the directory of `anchor` (extends files against their own file)."""
    problems = []
    for what, ref in doc.files:
        if found := _missing(bundle, doc.path, ref, f"{what}.file", anchor):
            problems.append(found)
    env_files: dict[str, tuple[Ref, list[str]]] = {}
    for service in doc.services.values():
        for ref in service.env_files:
            if ref.required:
                env_files.setdefault(ref.text, (ref, []))[1].append(service.name)
    for ref, names in env_files.values():
        what = f"{'service' if len(names) == 1 else 'services'} {', '.join(names)}: env_file"
        if found := _missing(bundle, doc.path, ref, what, anchor):
            problems.append(found)
    for service in doc.services.values():
        what = f"service {service.name}:"
        context = service.build_context
        if context and (
            found := _missing(bundle, doc.path, context, f"{what} build context", anchor)
        ):
            problems.append(found)
        if service.extends is None:
            continue
        ref = service.extends[0]
        if ref and (found := _missing(bundle, doc.path, ref, f"{what} extends.file")):
            problems.append(found)
            continue
        try:
            files.effective(service)
        except ComposeFileError as exc:
            problems.append((exc.what or str(exc), exc.fix or "fix extends"))
    return problems


def _required_variables(
    doc: ComposeDoc, environment: Mapping[str, Any]
) -> Iterator[tuple[str, str]]:
    """`${VAR:?message}` (or `?`) in the file's values that the project's environment leaves
    unset: compose refuses to run the project."""
    variables = {k: "set" if v else "" for k, v in environment.items()}
    reported: set[str] = set()
    for text in _strings(yamlsafe.load(doc.text)):
        try:
            _, _, failed = expand(text, variables)
        except ComposeFileError:
            continue
        for name, message in failed:
            if name not in reported:
                reported.add(name)
                yield (
                    f"{doc.path}: ${{{name}}} is not set: {message or '(no message)'}; compose"
                    " refuses to run the project",
                    f"set {name} in stacks[].env or the bundle's {ENV_FILE}",
                )


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str) and "$" in value:
        yield value


def _missing(
    bundle: Path, file: Path, ref: Ref, kind: str, anchor: Path | None = None
) -> tuple[str, str] | None:
    """Why `ref` (named in `file`, relative to `anchor`'s directory, default `file`'s) is not a
    usable file (or directory) of the bundle, or None."""
    if "$" in ref.text or "://" in ref.text or ref.text.startswith("git@"):
        return None
    where = f"{file}:{ref.line}: {kind} {ref.text}"
    target = ref.path(anchor or file)
    root = os.path.realpath(bundle)
    if os.path.commonpath([root, os.path.realpath(target)]) != root:
        return f"{where}: outside the bundle, so it is not uploaded", _OUTSIDE_FIX
    if kind.endswith("env_file") and Path(os.path.normpath(target)) == bundle / ENV_FILE:
        return None
    if kind.endswith("build context"):
        return None if target.is_dir() else (f"{where}: no such directory", _MISSING_FIX)
    if not target.is_file():
        return f"{where}: no such file", _MISSING_FIX
    return None
