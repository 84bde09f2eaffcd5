#!/usr/bin/env bash
# Query latencies over a large store (bench/README.md).
#
#   bench/query.sh [sqlite|postgres] [EVENTS]
#
# Fills a fresh store with EVENTS (default 10,000,000) realistic events spread over 30 days,
# starts eventlog on it and measures p50/p95/p99 of the read API (one connection,
# sequential, 20 warm-up requests per kind). The store is deleted at exit unless KEEP=1.
# STORE=URL reuses an existing filled store instead (it is then never deleted; the first
# admin key must be given as KEY=...).
set -euo pipefail

BACKEND="${1:-sqlite}"
EVENTS="${2:-10000000}"
REQUESTS="${REQUESTS:-500}"
FILL_THREADS="${FILL_THREADS:-1}"

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "$BACKEND" in sqlite | postgres) ;; *)
    echo "usage: $0 [sqlite|postgres] [EVENTS]" >&2
    exit 2
    ;;
esac

WORK="$(mktemp -d -t eventlog-bench.XXXXXX)"
PG_DB="eventlog_query_$$"
OWN_STORE=1
cleanup() {
    stop_server
    if [[ "${KEEP:-0}" != 1 && "$OWN_STORE" == 1 ]]; then
        if [[ "$BACKEND" == postgres ]]; then pg_drop_db "$PG_DB"; fi
        rm -rf "$WORK"
    else
        echo "kept: $WORK ${DB_URL:-}" >&2
    fi
}
trap cleanup EXIT

build

if [[ -n "${STORE:-}" ]]; then
    OWN_STORE=0
    DB_URL="$STORE"
else
    if [[ "$BACKEND" == sqlite ]]; then
        DB_URL="sqlite://$WORK/eventlog.db"
    else
        DB_URL="$PG_SERVER/$PG_DB"
    fi
    echo "== $(date -u +%FT%TZ) filling $DB_URL with $EVENTS events" >&2
    "$LOADGEN" fill --database "$DB_URL" --events "$EVENTS" --spread-days 30 --threads "$FILL_THREADS"
fi

start_server "$DB_URL" "$WORK"
if [[ "$BACKEND" == sqlite ]]; then
    echo "{\"bench\":\"store-size\",\"backend\":\"sqlite\",\"rows_bytes\":\"$(sqlite_rows_bytes "${DB_URL#sqlite://}")\"}"
else
    echo "{\"bench\":\"store-size\",\"backend\":\"postgres\",\"rows_bytes\":\"$(pg_rows_bytes "${DB_URL##*/}")\"}"
fi
"$LOADGEN" query --url "$SERVER_URL" --key "$SERVER_KEY" --requests "$REQUESTS"
echo "server peak RSS (VmHWM): $(($(server_rss_kib) / 1024)) MiB"
