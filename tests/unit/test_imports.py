"""The import graph of dockyard/, tasks/, flows/ and deployments/: no cycles, layers point one way.

Every import counts: module level, inside functions (lazy) and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("dockyard", "tasks", "flows", "deployments")


def modules() -> dict[str, Path]:
    """Every module of the packages by dotted name (a package by its own name)."""
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The known modules `name` imports: `from a.b import c` is a.b.c if that is a module,
    else a.b; `import a.b.c` is the longest known prefix."""

    def nearest(dotted: str) -> str | None:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [nearest(alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *filter(None, [base])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else nearest(base)
                for alias in node.names
            ]
        else:
            continue
        yield from (t for t in targets if t and t != name)


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_walker_finds_a_cycle_and_its_members() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(edges) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_walker_sees_lazy_and_type_checking_imports() -> None:
    edges = graph()
    assert "dockyard.ssh.settings" in edges["dockyard.ssh.keys"]  # under TYPE_CHECKING
    assert "flows.deploy" in edges["deployments.cli.deploy"]  # inside a function


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_layers_point_one_way() -> None:
    """deployments -> flows -> tasks -> dockyard; the core imports neither Prefect nor click."""
    above = {
        "dockyard": ("tasks", "flows", "deployments", "prefect", "click"),
        "tasks": ("flows", "deployments"),
        "flows": ("deployments",),
    }
    wrong = []
    for path in (REPO / "dockyard").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        wrong += [f"{path}: {n}" for n in names if n.split(".")[0] in above["dockyard"]]
    for module, deps in graph().items():
        layer = module.split(".")[0]
        wrong += [f"{module}: {d}" for d in deps if d.split(".")[0] in above.get(layer, ())]
    assert wrong == []
