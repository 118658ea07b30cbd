"""Name rules shared by the config, env files, lint and the link: one regex per kind of name."""

from __future__ import annotations

import re

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
