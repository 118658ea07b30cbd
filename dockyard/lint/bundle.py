"""Check a stack's bundle for `dockyard validate`, without contacting a host: compose files
parse, the files they include, extend or read as env_file exist inside the bundle, services the
config names exist, and no symlink leads out of the bundle."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dockyard.commands.compose import ENV_FILE
from dockyard.compose_files import ComposeDoc, ComposeFileError, ComposeSet, Ref
from dockyard.config import DeployConfig, StackConfig

_MISSING_FIX = "create it in the bundle or fix the path (relative to the file that names it)"


@dataclass(frozen=True)
class BundleProblem:
    """One thing wrong with a bundle: the config field it comes from, and where/what/fix."""

    field: str
    text: str

    def __str__(self) -> str:
        return f"{self.field}: {self.text}"


def check_bundles(config: DeployConfig) -> list[BundleProblem]:
    """Every problem in every stack's bundle, stack by stack."""
    return [p for i, stack in enumerate(config.stacks) for p in check_stack(stack, f"stacks[{i}]")]


def check_stack(stack: StackConfig, at: str) -> list[BundleProblem]:
    """The problems of one stack's bundle; `at` is its field path (e.g. `stacks[0]`)."""
    bundle = stack.bundle
    problems = [BundleProblem(f"{at}.bundle", text) for text in outside_links(bundle)]
    files = ComposeSet()
    services: set[str] = set()
    parsed = True
    for i, name in enumerate(stack.compose_files):
        field = f"{at}.compose_files[{i}]"
        texts, names = _compose_tree(files, bundle, bundle / name)
        problems += [BundleProblem(field, text) for text in texts]
        parsed = parsed and names is not None
        services |= names or set()
    if parsed:
        known = ", ".join(sorted(services)) or "none"
        problems += [
            BundleProblem(
                f"{at}.{field}",
                f"service {service!r} is not in the compose files; use one of: {known}",
            )
            for field, service in stack.service_refs()
            if service not in services
        ]
    return problems


def outside_links(bundle: Path) -> list[str]:
    """Symlinks inside `bundle` whose target lies outside it (or loops), as problem texts."""
    root = os.path.realpath(bundle)
    found = []
    for directory, dirs, names in os.walk(bundle):
        for name in sorted(dirs + names):
            path = os.path.join(directory, name)
            if not os.path.islink(path):
                continue
            try:
                target = os.path.realpath(path, strict=False)
            except OSError as exc:
                found.append(f"{path}: symlink cannot be resolved ({exc}); replace it with a file")
                continue
            if os.path.commonpath([root, target]) != root:
                found.append(
                    f"{path}: symlink points outside the bundle (to {target}), which is not"
                    " uploaded; copy the file into the bundle instead"
                )
    return found


def _compose_tree(files: ComposeSet, bundle: Path, top: Path) -> tuple[list[str], set[str] | None]:
    """Problems of `top` and the files it includes, and its service names (None when a file
    could not be read, so service names cannot be checked)."""
    problems: list[str] = []
    names: set[str] | None = set()
    pending, seen = [top], set[Path]()
    while pending:
        path = pending.pop(0)
        if Path(os.path.abspath(path)) in seen:
            continue
        seen.add(Path(os.path.abspath(path)))
        try:
            doc = files.doc(path)
        except ComposeFileError as exc:
            problems.append(str(exc))
            names = None
            continue
        for ref in doc.includes:
            if text := _missing(bundle, doc.path, ref, "include"):
                problems.append(text)
                names = None
            else:
                pending.append(ref.path(doc.path))
        problems += _service_files(files, bundle, doc)
        if names is not None:
            names |= set(doc.services)
    return problems, names


def _service_files(files: ComposeSet, bundle: Path, doc: ComposeDoc) -> list[str]:
    problems = []
    for service in doc.services.values():
        what = f"service {service.name}:"
        for ref in service.env_files:
            if ref.required and (text := _missing(bundle, doc.path, ref, f"{what} env_file")):
                problems.append(text)
        if service.extends is None:
            continue
        ref = service.extends[0]
        if ref and (text := _missing(bundle, doc.path, ref, f"{what} extends.file")):
            problems.append(text)
            continue
        try:
            files.effective(service)
        except ComposeFileError as exc:
            problems.append(str(exc))
    return problems


def _missing(bundle: Path, file: Path, ref: Ref, kind: str) -> str | None:
    """Why `ref` (named in `file`) is not a usable file of the bundle, or None."""
    if "$" in ref.text:
        return None
    where = f"{file}:{ref.line}: {kind} {ref.text}"
    target = ref.path(file)
    root = os.path.realpath(bundle)
    if os.path.commonpath([root, os.path.realpath(target)]) != root:
        return f"{where}: outside the bundle, so it is not uploaded; move it into the bundle"
    if kind.endswith("env_file") and Path(os.path.normpath(target)) == bundle / ENV_FILE:
        return None
    if not target.is_file():
        return f"{where}: no such file; {_MISSING_FIX}"
    return None
