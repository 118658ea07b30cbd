#!/usr/bin/env bash
# The incident's deploy: one SSH session with no keepalive and no retries, a blanket
# `docker compose pull` of every image, the migration, then `compose up -d`.
# Usage: blanket.sh REMOTE_DIR   (the bundle and its .env were uploaded before)
# Env: BENCH_SSH_HOST BENCH_SSH_PORT BENCH_SSH_USER BENCH_SSH_KEY BENCH_KNOWN_HOSTS
#      BENCH_SILENT_SECONDS (a silent step before compose, default 0)
set -euo pipefail
dir="$1"
silent="${BENCH_SILENT_SECONDS:-0}"
pre=""
if [ "$silent" -gt 0 ]; then pre="sleep $silent && "; fi
exec ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o LogLevel=ERROR \
  -o ConnectTimeout=10 -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$BENCH_KNOWN_HOSTS" \
  -o ServerAliveInterval=0 \
  -i "$BENCH_SSH_KEY" -p "$BENCH_SSH_PORT" "$BENCH_SSH_USER@$BENCH_SSH_HOST" \
  "cd $dir && ${pre}docker compose pull && docker compose run --rm migrator && docker compose up -d"
