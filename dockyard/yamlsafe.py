"""Reading YAML from users safely: size caps, an alias-expansion cap, no duplicate keys.

Every YAML dockyard reads (deploy.yaml, compose files for lint, pin and validate) goes through
here, so a 500-byte "billion laughs" file is refused in milliseconds instead of eating GBs."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 4 << 20
MAX_EXPANDED_NODES = 200_000
MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlProblem(ValueError):
    """A YAML file that cannot be used; `fix` says what to do, `line` where (1-based)."""

    def __init__(self, message: str, fix: str, line: int | None = None) -> None:
        super().__init__(message)
        self.fix = fix
        self.line = line


class DuplicateKey(yaml.MarkedYAMLError):
    """A mapping names the same key twice (YAML would silently keep the last)."""


class Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable):
                if key in seen:
                    raise DuplicateKey(None, None, str(key), key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)


def _compose_tag(loader: Loader, node: yaml.Node) -> Any:
    """Compose's `!reset` and `!override` (merge control of -f overlays): read the value as is."""
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


for _tag in ("!reset", "!override"):
    Loader.add_constructor(_tag, _compose_tag)


def read_text(path: Path, what: str = "file", max_bytes: int = MAX_BYTES) -> str:
    """A UTF-8 text file of at most `max_bytes`; YamlProblem names what is wrong."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise YamlProblem(
                f"the {what} is {size} bytes, over the {max_bytes} byte limit",
                "split it or remove what it does not need",
            )
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise YamlProblem(
            f"cannot read the {what}: {exc.strerror or exc}", "check the path"
        ) from None
    except UnicodeDecodeError:
        raise YamlProblem(f"the {what} is not UTF-8 text", "save it as UTF-8") from None


def expanded_size(node: yaml.Node, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many nodes the document has with every alias expanded (stops counting past `limit`)."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        if id(n) in sizes:
            return sizes[id(n)]
        if id(n) in active:
            raise yaml.MarkedYAMLError(None, None, "recursive alias", n.start_mark)
        active.add(id(n))
        total = 1
        if isinstance(n, yaml.MappingNode):
            children = [c for pair in n.value for c in pair]
        elif isinstance(n, yaml.SequenceNode):
            children = list(n.value)
        else:
            children = []
        for child in children:
            total += size(child)
            if total > limit:
                break
        active.discard(id(n))
        sizes[id(n)] = total
        return total

    return size(node)


def compose(text: str, limit: int = MAX_EXPANDED_NODES) -> tuple[yaml.Loader, yaml.Node | None]:
    """Parse to a node tree (for line numbers) and refuse alias bombs; the caller disposes."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None and expanded_size(node, limit) > limit:
            raise YamlProblem(
                f"the YAML expands to over {limit} nodes through its aliases (&anchor/*alias)",
                "write the values out, or use fewer nested aliases",
                node.start_mark.line + 1,
            )
    except DuplicateKey as exc:
        loader.dispose()
        raise _duplicate(exc) from None
    except yaml.MarkedYAMLError as exc:
        loader.dispose()
        raise syntax_problem(exc) from None
    except yaml.YAMLError as exc:
        loader.dispose()
        raise YamlProblem(f"YAML error: {exc}", "fix the YAML") from None
    except YamlProblem:
        loader.dispose()
        raise
    return loader, node


def construct(loader: yaml.Loader, node: yaml.Node | None) -> Any:
    """The Python data of a node from `compose` (duplicate keys refused)."""
    if node is None:
        return None
    try:
        return loader.construct_document(node)
    except DuplicateKey as exc:
        raise _duplicate(exc) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML error: {exc}", "fix the YAML") from None


def load(text: str, limit: int = MAX_EXPANDED_NODES) -> Any:
    """Parse one YAML document safely (caps, no duplicate keys)."""
    loader, node = compose(text, limit)
    try:
        return construct(loader, node)
    finally:
        loader.dispose()


def syntax_problem(exc: yaml.MarkedYAMLError) -> YamlProblem:
    mark = exc.problem_mark or exc.context_mark
    context = f" ({exc.context})" if exc.context else ""
    return YamlProblem(
        f"YAML syntax error: {exc.problem}{context}",
        "fix the YAML at that line: indentation, a missing ':' or an unclosed quote",
        mark.line + 1 if mark else None,
    )


def _duplicate(exc: DuplicateKey) -> YamlProblem:
    line = exc.problem_mark.line + 1 if exc.problem_mark else None
    return YamlProblem(
        f"duplicate key {exc.problem!r}", "keep one of them (YAML keeps only the last)", line
    )
