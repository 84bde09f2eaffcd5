#!/usr/bin/env bash
# Sustained ingest through the HTTP batch API (bench/README.md).
#
#   bench/ingest.sh [sqlite|postgres] [DURATION_SECS]
#
# Starts eventlog on a fresh store (sqlite: a temp dir; postgres: a fresh database
# eventlog_bench_<pid> on $PG_SERVER, default postgres://root@127.0.0.1:5432, dropped at
# exit), drives it with 4 connections x 1000-event batches for DURATION_SECS (default 60),
# then reports events/s, ack latencies, the server's peak RSS and bytes per event on disk.
# For postgres it also runs the raw-COPY ceiling and the seeds' one-INSERT-per-event
# baseline in the same run and prints the ratios.
set -euo pipefail

BACKEND="${1:-sqlite}"
DURATION="${2:-60}"
CONNECTIONS="${CONNECTIONS:-4}"
BATCH="${BATCH:-1000}"
RAW_COPY_EVENTS="${RAW_COPY_EVENTS:-200000}"
BASELINE_EVENTS="${BASELINE_EVENTS:-20000}"

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "$BACKEND" in sqlite | postgres) ;; *)
    echo "usage: $0 [sqlite|postgres] [DURATION_SECS]" >&2
    exit 2
    ;;
esac

WORK="$(mktemp -d -t eventlog-bench.XXXXXX)"
PG_DB="eventlog_bench_$$"
cleanup() {
    stop_server
    if [[ "$BACKEND" == postgres ]]; then pg_drop_db "$PG_DB"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

build

if [[ "$BACKEND" == sqlite ]]; then
    DB_FILE="$WORK/eventlog.db"
    DB_URL="sqlite://$DB_FILE"
else
    pg_create_db "$PG_DB"
    DB_URL="$PG_SERVER/$PG_DB"
fi

echo "== $(date -u +%FT%TZ) ingest benchmark: $BACKEND, ${DURATION}s, $CONNECTIONS connections x $BATCH events, $(nproc) cores" >&2
start_server "$DB_URL" "$WORK"
CPU0="$(server_cpu_s)"
"$LOADGEN" http --url "$SERVER_URL" --key "$SERVER_KEY" --connections "$CONNECTIONS" \
    --batch "$BATCH" --duration-secs "$DURATION" | tee "$WORK/http.out"
RSS_KIB="$(server_rss_kib)"
CPU1="$(server_cpu_s)"
stop_server
if grep -qE 'ERROR|WARN|panicked' "$WORK/serve.err"; then
    cp "$WORK/serve.err" "/tmp/eventlog-bench-serve-$$.err"
    echo "== the server logged errors or warnings (first 5 below; all in /tmp/eventlog-bench-serve-$$.err):" >&2
    grep -m 5 -E "ERROR|WARN|panicked" "$WORK/serve.err" >&2
fi

HTTP_JSON="$(grep '"bench":"http"' "$WORK/http.out")"
INGEST_RATE="$(json_field "$HTTP_JSON" events_per_s)"
ACKED="$(json_field "$HTTP_JSON" events_acked)"

if [[ "$BACKEND" == sqlite ]]; then
    read -r ROWS BYTES < <(sqlite_rows_bytes "$DB_FILE")
else
    read -r ROWS BYTES < <(pg_rows_bytes "$PG_DB")
fi
BYTES_PER_EVENT=$((BYTES / (ROWS > 0 ? ROWS : 1)))
SERVER_CPU="$(awk -v a="$CPU0" -v b="$CPU1" 'BEGIN {printf "%.1f", b - a}')"

echo "{\"bench\":\"ingest-store\",\"backend\":\"$BACKEND\",\"events_acked\":$ACKED,\"rows_in_store\":$ROWS,\"bytes_on_disk\":$BYTES,\"bytes_per_event\":$BYTES_PER_EVENT,\"server_peak_rss_kib\":$RSS_KIB,\"server_cpu_s\":$SERVER_CPU}"
if ((ROWS < ACKED)); then
    echo "WARNING: the store holds $ROWS events but $ACKED were acknowledged" >&2
fi

if [[ "$BACKEND" == postgres ]]; then
    echo "== raw COPY ceiling ($RAW_COPY_EVENTS events)" >&2
    "$LOADGEN" raw-copy --database "$PG_SERVER/postgres" --events "$RAW_COPY_EVENTS" >"$WORK/raw.out"
    cat "$WORK/raw.out"
    RAW_JSON="$(grep '"bench":"raw-copy"' "$WORK/raw.out")"
    echo "== seeds' baseline: one INSERT + commit per event ($BASELINE_EVENTS events)" >&2
    "$LOADGEN" baseline-insert --database "$PG_SERVER/postgres" --events "$BASELINE_EVENTS" >"$WORK/base.out"
    cat "$WORK/base.out"
    BASE_JSON="$(grep '"bench":"baseline-insert"' "$WORK/base.out")"
    RAW_RATE="$(json_field "$RAW_JSON" events_per_s)"
    BASE_RATE="$(json_field "$BASE_JSON" events_per_s)"
fi

echo
echo "=== summary: $BACKEND, $(date -u +%FT%TZ) ==="
printf '%-34s %s\n' "HTTP ingest" "$INGEST_RATE events/s ($ACKED events in ${DURATION}s)"
printf '%-34s %s\n' "server peak RSS (VmHWM)" "$((RSS_KIB / 1024)) MiB"
printf '%-34s %s\n' "server CPU during the run" "$SERVER_CPU s"
printf '%-34s %s\n' "on disk" "$BYTES_PER_EVENT bytes/event ($ROWS rows, $BYTES bytes)"
if [[ "$BACKEND" == postgres ]]; then
    printf '%-34s %s\n' "raw COPY ceiling" "$RAW_RATE events/s, $(json_field "$RAW_JSON" bytes_per_event) bytes/event"
    printf '%-34s %s\n' "seeds' baseline (INSERT+commit)" "$BASE_RATE events/s, $(json_field "$BASE_JSON" bytes_per_event) bytes/event"
    printf '%-34s %s\n' "ingest / raw COPY" "$(awk -v a="$INGEST_RATE" -v b="$RAW_RATE" 'BEGIN {printf "%.2f", a / b}')"
    printf '%-34s %s\n' "ingest / baseline" "$(awk -v a="$INGEST_RATE" -v b="$BASE_RATE" 'BEGIN {printf "%.1f", a / b}')"
fi
