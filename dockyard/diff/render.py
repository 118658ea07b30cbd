"""Render a stack diff as text or markdown; every value passes the masker, secrets show `***`."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dockyard.diff.compare import EnvChange, ServiceChange, StackDiff

NO_CHANGES = "no changes"

Mask = Callable[[str], str]


def _short(image: str) -> str:
    """An image by its digest shortened to 12 hex (`repo@sha256:0123456789ab`)."""
    repo, at, digest = image.rpartition("@")
    algo, colon, hexa = (digest if at else image).partition(":")
    if not colon:
        return image or "(none)"
    short = f"{algo}:{hexa[:12]}"
    return f"{repo}@{short}" if at else short


def service_line(row: ServiceChange) -> str:
    why = []
    if row.image:
        why.append(f"image {_short(row.image[0])} -> {_short(row.image[1])}")
    if row.keys:
        why.append(f"config: {', '.join(row.keys)}")
    kind = " (job)" if row.job else ""
    reason = f" ({'; '.join(why)})" if why and row.action != "unchanged" else ""
    return f"{row.action:9} {row.service}{kind}{reason}"


def env_line(row: EnvChange) -> str:
    if row.secret:
        shown = {"+": " = ***", "-": "", "~": " (secret changed)"}[row.op]
        return f"{row.op} {row.key}{shown}"
    if row.op == "+":
        return f"+ {row.key} = {row.new}"
    if row.op == "-":
        return f"- {row.key}"
    return f"~ {row.key}: {row.old} -> {row.new}"


def image_lines(diff: StackDiff) -> list[str]:
    """One line per distinct image move, naming the services it moves."""
    moves: dict[tuple[str, str], list[str]] = {}
    for row in diff.services:
        if row.image and row.action != "remove":
            moves.setdefault(row.image, []).append(row.service)
    return [f"{_short(a)} -> {_short(b)} ({', '.join(s)})" for (a, b), s in moves.items()]


def sections(diff: StackDiff) -> list[tuple[str, list[str]]]:
    """(title, lines) of a diff that changes something; empty when nothing changes."""
    if not diff.changed:
        return []
    return [
        ("services", [service_line(s) for s in diff.services]),
        ("env", [env_line(e) for e in diff.env]),
        ("images", image_lines(diff)),
        ("jobs that will run", list(diff.jobs)),
        ("files", [f"{f.op} {f.path}" for f in diff.files]),
    ]


def heading(diff: StackDiff) -> str:
    moving = f"{diff.release_from or '(nothing deployed)'} -> {diff.release_to}"
    return f"{diff.host}/{diff.project}: {moving if diff.changed else NO_CHANGES}"


def text(diff: StackDiff, mask: Mask) -> str:
    """The diff for a terminal: a heading, then each non-empty section indented."""
    lines = [heading(diff)]
    for title, rows in sections(diff):
        if rows:
            lines.append(f"  {title}:")
            lines += [f"    {r}" for r in rows]
    return mask("\n".join(lines))


def markdown(diff: StackDiff, mask: Mask) -> str:
    """The diff of one host/stack as markdown (the deploy run's artifact, the approval page)."""
    lines = [f"### {heading(diff)}"]
    for title, rows in sections(diff):
        if rows:
            lines += ["", f"**{title}**", "", "```diff", *rows, "```"]
    return mask("\n".join(lines) + "\n")


def markdown_all(diffs: Iterable[StackDiff], mask: Mask) -> str:
    """Several stacks' diffs, one markdown document."""
    return "\n".join(markdown(d, mask) for d in diffs)
