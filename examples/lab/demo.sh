#!/usr/bin/env bash
# The demo: a real deploy of examples/lab through the Prefect flow, against the lab that
# `make demo` started. First release v1, then a no-op redeploy, then release v2.
set -euo pipefail
cd "$(dirname "$0")/../.."
eval "$(.venv/bin/dockyard lab env --shell)"
export LAB_REGISTRY_PASSWORD="$(cat "$LAB_REGISTRY_PASSWORD_FILE")"
export DB_PASSWORD="${DB_PASSWORD:-demo-db-password}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
deploy() {
  echo
  echo "== dockyard deploy: app $1, migrator $1"
  .venv/bin/dockyard deploy -c examples/lab/deploy.yaml \
    --set "APP_IMAGE=$LAB_REGISTRY/dockyard/app:$1" \
    --set "MIGRATOR_IMAGE=$LAB_REGISTRY/dockyard/migrator:$1"
}
deploy v1
deploy v1
deploy v2
echo
echo "== the app answers on the lab VM:"
.venv/bin/dockyard exec -c examples/lab/deploy.yaml \
  --set "APP_IMAGE=x" --set "MIGRATOR_IMAGE=x" -- wget -q -O- http://127.0.0.1:18080/version
