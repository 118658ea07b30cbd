#!/usr/bin/env bash
# The demo: a real run against the local lab (started by `make demo` before this script).
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/dockyard lab status >/dev/null
.venv/bin/dockyard lab env
