"""The `dockyard` CLI: `main` (the entry point) is built in main.py from one list of commands."""

from deployments.cli.main import main

__all__ = ["main"]
