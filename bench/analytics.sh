#!/usr/bin/env bash
# Analytics latencies over a large store, and what rollups cost at ingest (bench/README.md).
#
#   bench/analytics.sh [sqlite|postgres] [EVENTS]
#
# 1. Rollup cost: writes ROLLUP_EVENTS (default 500,000) generated events into a fresh store
#    without rollups, then the same events into another fresh store with rollups (the
#    shipped path), through `store.write` in 10,000-event transactions; prints both rates
#    and their ratio. ROLLUP_SPREAD_DAYS=0 (default) stamps every event "now", as live
#    ingest does (few rollup rows per transaction); ROLLUP_SPREAD_DAYS=1 spreads them over a
#    day, a back-fill (one minute row per event and dimension: the worst case).
#    SKIP_ROLLUP_COST=1 skips this part.
# 2. Fills a fresh store with EVENTS (default 10,000,000) events spread over 30 days (or
#    reuses STORE=URL with KEY=...), starts eventlog on it and measures p50/p95/p99 of the
#    summary, the six seed 002 reports, a time series, activities and alerts (one
#    connection, sequential, REQUESTS per kind after 20 warm-ups). ARRIVAL=1 fills in
#    arrival order, as a live store fills (the default is random time order, a back-fill,
#    whose rollups cost a minute row per event: about 4,000 events/s).
# Stores are deleted at exit unless KEEP=1.
set -euo pipefail

BACKEND="${1:-sqlite}"
EVENTS="${2:-10000000}"
REQUESTS="${REQUESTS:-200}"
FILL_THREADS="${FILL_THREADS:-1}"
ROLLUP_EVENTS="${ROLLUP_EVENTS:-500000}"
ROLLUP_SPREAD_DAYS="${ROLLUP_SPREAD_DAYS:-0}"

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "$BACKEND" in sqlite | postgres) ;; *)
    echo "usage: $0 [sqlite|postgres] [EVENTS]" >&2
    exit 2
    ;;
esac

WORK="$(mktemp -d -t eventlog-bench.XXXXXX)"
PG_DB="eventlog_analytics_$$"
OWN_STORE=1
cleanup() {
    stop_server
    if [[ "$BACKEND" == postgres ]]; then
        pg_drop_db "${PG_DB}_norollup"
        pg_drop_db "${PG_DB}_rollup"
    fi
    if [[ "${KEEP:-0}" != 1 && "$OWN_STORE" == 1 ]]; then
        if [[ "$BACKEND" == postgres ]]; then pg_drop_db "$PG_DB"; fi
        rm -rf "$WORK"
    else
        echo "kept: $WORK ${DB_URL:-}" >&2
    fi
}
trap cleanup EXIT

store_url() {
    if [[ "$BACKEND" == sqlite ]]; then echo "sqlite://$WORK/$1.db"; else echo "$PG_SERVER/$1"; fi
}

build

if [[ "${SKIP_ROLLUP_COST:-0}" != 1 ]]; then
    echo "== $(date -u +%FT%TZ) rollup cost: $ROLLUP_EVENTS events without, then with rollups" >&2
    without="$("$LOADGEN" fill --database "$(store_url "${PG_DB}_norollup")" --events "$ROLLUP_EVENTS" --spread-days "$ROLLUP_SPREAD_DAYS" --no-rollups | tail -n1)"
    echo "$without"
    with="$("$LOADGEN" fill --database "$(store_url "${PG_DB}_rollup")" --events "$ROLLUP_EVENTS" --spread-days "$ROLLUP_SPREAD_DAYS" | tail -n1)"
    echo "$with"
    python3 - "$without" "$with" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
r = b["events_per_s"] / a["events_per_s"]
print(json.dumps({"bench": "rollup-cost", "backend": a["backend"], "without_rollups_per_s": a["events_per_s"],
                  "with_rollups_per_s": b["events_per_s"], "ratio": round(r, 3), "cost_percent": round((1 - r) * 100, 1)}))
PY
    if [[ "$BACKEND" == sqlite ]]; then rm -f "$WORK/${PG_DB}"_*rollup.db*; else
        pg_drop_db "${PG_DB}_norollup"
        pg_drop_db "${PG_DB}_rollup"
    fi
fi

if [[ -n "${STORE:-}" ]]; then
    OWN_STORE=0
    DB_URL="$STORE"
else
    DB_URL="$(store_url "$PG_DB")"
    echo "== $(date -u +%FT%TZ) filling $DB_URL with $EVENTS events" >&2
    ORDER_FLAG=""
    [[ "${ARRIVAL:-0}" == 1 ]] && ORDER_FLAG="--arrival-order"
    "$LOADGEN" fill --database "$DB_URL" --events "$EVENTS" --spread-days 30 --threads "$FILL_THREADS" $ORDER_FLAG
fi

start_server "$DB_URL" "$WORK"
"$LOADGEN" query --suite analytics --url "$SERVER_URL" --key "$SERVER_KEY" --requests "$REQUESTS"
echo "server peak RSS (VmHWM): $(($(server_rss_kib) / 1024)) MiB"
