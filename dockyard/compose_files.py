"""Read compose files for lint, pin and validate: each service's image, build, pull_policy,
extends and env_file, and the files a compose file includes, all with their lines."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from dockyard import yamlsafe
from dockyard.errors import DockyardError

LOCAL_PULL_POLICIES = frozenset({"never", "build"})


class ComposeFileError(DockyardError, ValueError):
    """A compose file cannot be read as one; the message names the file (and line) and the fix
    (`what` and `fix` hold the two parts when it was made by `problem`)."""

    what: str = ""
    fix: str = ""


def problem(file: Path | str, line: int | None, message: str, fix: str) -> ComposeFileError:
    """A ComposeFileError worded `file:line: message; fix`."""
    where = f"{file}:{line}" if line else str(file)
    error = ComposeFileError(f"{where}: {message}; {fix}")
    error.what, error.fix = f"{where}: {message}", fix
    return error


@dataclass(frozen=True)
class Ref:
    """A file a compose file points at (include, extends.file, env_file), as written."""

    text: str
    line: int
    required: bool = True

    def path(self, base: Path) -> Path:
        """The referenced file, relative to the directory of the file that names it."""
        return base.parent / self.text


@dataclass(frozen=True)
class Service:
    """One service of one compose file, as written there (extends not yet applied)."""

    name: str
    file: Path
    line: int
    image: yaml.ScalarNode | None
    build: bool
    pull_policy: str | None
    extends: tuple[Ref | None, str] | None
    env_files: tuple[Ref, ...]
    build_context: Ref | None = None


@dataclass(frozen=True)
class ComposeDoc:
    """A parsed compose file: its text, services in file order, and its include entries."""

    path: Path
    text: str
    services: dict[str, Service] = field(default_factory=dict)
    includes: tuple[Ref, ...] = ()
    files: tuple[tuple[str, Ref], ...] = ()


@dataclass(frozen=True)
class Effective:
    """A service with extends applied: the image (and the file it is written in), build and
    pull_policy."""

    service: Service
    image: yaml.ScalarNode | None
    image_file: Path
    build: bool
    pull_policy: str | None

    @property
    def built_locally(self) -> bool:
        """Compose builds it here (build: without image:, or pull_policy never/build)."""
        return (self.build and self.image is None) or self.pull_policy in LOCAL_PULL_POLICIES


def read(path: Path) -> ComposeDoc:
    """Parse one compose file (capped, see yamlsafe); ComposeFileError names file, line, fix."""
    try:
        text = yamlsafe.read_text(path, "compose file")
        loader, root = yamlsafe.compose(text)
        try:
            yamlsafe.construct(loader, root)
        finally:
            loader.dispose()
    except yamlsafe.YamlProblem as exc:
        raise problem(path, exc.line, str(exc), exc.fix) from None
    if root is None:
        raise problem(path, None, "the compose file is empty", "add a services: mapping")
    if not isinstance(root, yaml.MappingNode):
        raise problem(path, 1, "not a compose file (not a mapping)", "start with services:")
    includes = tuple(_includes(path, get(root, "include")))
    services = get(root, "services")
    if services is None and not includes:
        raise problem(path, 1, "no services: mapping", "is this a compose file? add services:")
    if services is not None and not isinstance(services, yaml.MappingNode):
        raise problem(
            path, _line(services), "services is not a mapping", "write name: {image: ...}"
        )
    doc = ComposeDoc(path, text, includes=includes, files=tuple(_top_files(path, root)))
    for key, spec in services.value if services is not None else []:
        doc.services[str(key.value)] = _service(path, key, spec)
    return doc


def get(mapping: yaml.MappingNode, key: str) -> yaml.Node | None:
    """The value of `key` in a mapping node, looking into merged (`<<:`) mappings after."""
    merged = []
    for key_node, value in mapping.value:
        if key_node.tag == yamlsafe.MERGE_TAG:
            merged += value.value if isinstance(value, yaml.SequenceNode) else [value]
        elif isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value
    for source in merged:
        if isinstance(source, yaml.MappingNode) and (found := get(source, key)) is not None:
            return found
    return None


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _string(path: Path, node: yaml.Node | None, what: str) -> str | None:
    if node is None:
        return None
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        raise problem(path, _line(node), f"{what} is not a string", "give it one string value")
    return str(node.value)


def _includes(path: Path, node: yaml.Node | None) -> Iterator[Ref]:
    if node is None:
        return
    if not isinstance(node, yaml.SequenceNode):
        raise problem(path, _line(node), "include is not a list", "write include: [other.yml]")
    for entry in node.value:
        target = get(entry, "path") if isinstance(entry, yaml.MappingNode) else entry
        if target is None:
            raise problem(path, _line(entry), "include entry has no path", "add path: file.yml")
        items = target.value if isinstance(target, yaml.SequenceNode) else [target]
        for item in items:
            text = _string(path, item, "include path")
            yield Ref(text or "", _line(item))


def _service(path: Path, key: yaml.Node, spec: yaml.Node) -> Service:
    name = str(key.value)
    if not isinstance(spec, yaml.MappingNode):
        raise problem(
            path, _line(spec), f"service {name} is not a mapping", "write image: and its settings"
        )
    image = get(spec, "image")
    _string(path, image, f"service {name}: image")
    return Service(
        name,
        path,
        _line(key),
        image if isinstance(image, yaml.ScalarNode) else None,
        get(spec, "build") is not None,
        _string(path, get(spec, "pull_policy"), f"service {name}: pull_policy"),
        _extends(path, name, get(spec, "extends")),
        tuple(_env_files(path, name, get(spec, "env_file"))),
        _build_context(path, get(spec, "build")),
    )


def _build_context(path: Path, node: yaml.Node | None) -> Ref | None:
    """The build context as written (`build: dir` or `build: {context: dir}`; default `.`)."""
    if node is None:
        return None
    context = get(node, "context") if isinstance(node, yaml.MappingNode) else node
    if context is None:
        return Ref(".", _line(node))
    text = _string(path, context, "build context")
    return Ref(text or ".", _line(context))


def _top_files(path: Path, root: yaml.MappingNode) -> Iterator[tuple[str, Ref]]:
    """(`secrets.NAME` or `configs.NAME`, file) for each one read from a file."""
    for section in ("secrets", "configs"):
        entries = get(root, section)
        if not isinstance(entries, yaml.MappingNode):
            continue
        for key, spec in entries.value:
            file = get(spec, "file") if isinstance(spec, yaml.MappingNode) else None
            if file is not None:
                what = f"{section}.{key.value}"
                yield what, Ref(_string(path, file, f"{what}.file") or "", _line(file))


def _extends(path: Path, name: str, node: yaml.Node | None) -> tuple[Ref | None, str] | None:
    if node is None:
        return None
    if isinstance(node, yaml.ScalarNode):
        return None, str(node.value)
    what = f"service {name}: extends"
    if not isinstance(node, yaml.MappingNode):
        raise problem(path, _line(node), f"{what} is not a mapping", "write {file:, service:}")
    base = _string(path, get(node, "service"), f"{what}.service")
    if base is None:
        raise problem(path, _line(node), f"{what} has no service", "add service: <name>")
    file_node = get(node, "file")
    file = _string(path, file_node, f"{what}.file")
    return (Ref(file, _line(file_node)) if file and file_node else None), base


def _env_files(path: Path, name: str, node: yaml.Node | None) -> Iterator[Ref]:
    if node is None:
        return
    what = f"service {name}: env_file"
    for item in node.value if isinstance(node, yaml.SequenceNode) else [node]:
        if isinstance(item, yaml.MappingNode):
            text = _string(path, get(item, "path"), f"{what}.path")
            required = get(item, "required")
            optional = isinstance(required, yaml.ScalarNode) and required.value.lower() == "false"
            if text is None:
                raise problem(path, _line(item), f"{what} entry has no path", "add path: file")
            yield Ref(text, _line(item), not optional)
        else:
            yield Ref(_string(path, item, what) or "", _line(item))


class ComposeSet:
    """Compose files read once each, with include trees and extends chains followed."""

    def __init__(self) -> None:
        self._docs: dict[Path, ComposeDoc] = {}

    def doc(self, path: Path) -> ComposeDoc:
        key = Path(os.path.abspath(path))
        if key not in self._docs:
            self._docs[key] = read(Path(path))
        return self._docs[key]

    def tree(self, top: Path) -> list[ComposeDoc]:
        """`top` and every file it includes, depth first, each once; a missing include raises."""
        seen: list[ComposeDoc] = []

        def visit(path: Path) -> None:
            doc = self.doc(path)
            if any(d is doc for d in seen):
                return
            seen.append(doc)
            for ref in doc.includes:
                target = ref.path(doc.path)
                if not target.is_file():
                    raise problem(
                        doc.path, ref.line, f"include {ref.text}: no such file", _NO_FILE_FIX
                    )
                visit(target)

        visit(top)
        return seen

    def effective(self, service: Service) -> Effective:
        """The service with its extends chain applied (the nearest setting wins)."""
        chain = [service]
        while (last := chain[-1]).extends is not None:
            ref, base_name = last.extends
            file = ref.path(last.file) if ref else last.file
            if ref and not file.is_file():
                where = f"service {last.name}: extends file {ref.text}"
                raise problem(last.file, ref.line, f"{where}: no such file", _NO_FILE_FIX)
            base = self.doc(file).services.get(base_name)
            if base is None:
                raise problem(
                    last.file, last.line,
                    f"service {last.name} extends {base_name}, which {file.name} does not define",
                    "fix extends.service or extends.file",
                )  # fmt: skip
            if base in chain:
                raise problem(
                    last.file, last.line, f"service {last.name}: extends loops back to itself",
                    "break the extends cycle",
                )  # fmt: skip
            chain.append(base)
        with_image = next((s for s in chain if s.image is not None), None)
        policy = next((s.pull_policy for s in chain if s.pull_policy is not None), None)
        return Effective(
            service,
            with_image.image if with_image else None,
            with_image.file if with_image else service.file,
            any(s.build for s in chain),
            policy,
        )


_NO_FILE_FIX = "create it or fix the path (relative to the file that names it)"
