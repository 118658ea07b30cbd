"""The `dockyard` command is built from the one list in deployments/cli/main.py: every command
it has is in COMMANDS, once, and no command module registers itself."""

from __future__ import annotations

import ast
from pathlib import Path

from deployments.cli.main import COMMANDS, main

CLI = Path(__file__).resolve().parents[3] / "deployments" / "cli"


def test_the_group_has_exactly_the_listed_commands() -> None:
    names = [command.name for command in COMMANDS]
    assert len(names) == len(set(names))
    assert sorted(main.commands) == sorted(names)
    assert {"deploy", "rollback", "lock", "pool", "lab", "validate"} <= set(names)


def test_no_command_module_registers_itself_on_the_group() -> None:
    decorators = [
        ast.unparse(d)
        for path in CLI.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef)
        for d in node.decorator_list
    ]
    assert not [d for d in decorators if d.startswith("main.")]
