#!/usr/bin/env bash
# The incident's fixed deploy: `docker pull` of the per-deploy images only (a fixed list:
# APP_IMAGE and MIGRATOR_IMAGE, read from the uploaded .env on the host), the migration, then
# `compose up -d`; over SSH with ServerAliveInterval=15, no retries. With BENCH_UP_WAIT=1 it is
# `compose up -d --wait` (the targeted-shell-wait contender: it waits for health as dockyard does).
# Usage: targeted.sh REMOTE_DIR   (the bundle and its .env were uploaded before)
# Env: BENCH_SSH_HOST BENCH_SSH_PORT BENCH_SSH_USER BENCH_SSH_KEY BENCH_KNOWN_HOSTS
#      BENCH_SILENT_SECONDS (a silent step before compose, default 0), BENCH_UP_WAIT (0 or 1)
set -euo pipefail
dir="$1"
silent="${BENCH_SILENT_SECONDS:-0}"
pre=""
if [ "$silent" -gt 0 ]; then pre="sleep $silent && "; fi
up="docker compose up -d"
if [ "${BENCH_UP_WAIT:-0}" = 1 ]; then up="$up --wait"; fi
pulls='for var in APP_IMAGE MIGRATOR_IMAGE; do
  ref="$(sed -n "s/^$var=//p" .env)"; [ -n "$ref" ] || { echo "$var missing in .env" >&2; exit 1; }
  docker pull -q "$ref" || exit 1
done'
exec ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR \
  -o ConnectTimeout=10 -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$BENCH_KNOWN_HOSTS" \
  -o ServerAliveInterval=15 \
  -i "$BENCH_SSH_KEY" -p "$BENCH_SSH_PORT" "$BENCH_SSH_USER@$BENCH_SSH_HOST" \
  "cd $dir && ${pre}{ $pulls; } && docker compose run --rm migrator && $up"
