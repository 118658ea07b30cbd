"""Names shared across layers: one regex per kind of name (config, env files, lint, the link),
and the environment mark of the CLI's one-run local API (the CLI sets it, the flow reads it)."""

from __future__ import annotations

import re

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LOCAL_API_MARK = "DOCKYARD_LOCAL_API"  # "1" while the CLI's one-run local API serves a deploy
