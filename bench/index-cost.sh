#!/usr/bin/env bash
# What each PostgreSQL index costs at ingest (bench/README.md, "Index costs").
#
#   bench/index-cost.sh [EVENTS]
#
# Runs the raw-COPY ceiling (eventlog's own table, no HTTP) once with every index and once
# without each of them, on fresh databases, and prints events/s and bytes per event.
set -euo pipefail
EVENTS="${1:-200000}"
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
build
for without in "" events_timestamp events_event_id events_severity_timestamp events_user_timestamp; do
    args=(raw-copy --database "$PG_SERVER/postgres" --events "$EVENTS")
    [ -n "$without" ] && args+=(--without-index "$without")
    echo "== without: ${without:-nothing}"
    "$LOADGEN" "${args[@]}" | grep -E '^---|^\('
done
