#!/usr/bin/env bash
# Export speed: fills a fresh store with EVENTS generated events (default 1,000,000) over
# 20 days, then, in one run, times
#   1. the baseline: for PostgreSQL the same rows in the export's order (newest first) by
#      PostgreSQL's own `COPY (SELECT ... ORDER BY "timestamp" DESC, seq DESC) TO STDOUT`;
#      for SQLite `sqlite3 -json` of the same ordered SELECT;
#   2. `eventlog export --format jsonl` of every event, RUNS times (default 3),
# and prints events/s for each and the ratio to the baseline.
# Usage: bench/export.sh [sqlite|postgres] [EVENTS]. ARRIVAL=0 fills in random time order
# (a back-fill; the default is arrival order, as applications fill a store).
set -euo pipefail
source "$(dirname "$0")/common.sh"

BACKEND="${1:-postgres}"
EVENTS="${2:-1000000}"
RUNS="${RUNS:-3}"
WORK="$(mktemp -d)"
DB="eventlog_exportbench_$$"
case "$BACKEND" in
    sqlite) URL="sqlite://$WORK/export.db" ;;
    postgres) URL="$PG_SERVER/$DB" ;;
    *) echo "usage: bench/export.sh [sqlite|postgres] [EVENTS]" >&2; exit 2 ;;
esac
cleanup() {
    if [[ "$BACKEND" == postgres ]]; then
        "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

build

ORDER_FLAG="--arrival-order"
[[ "${ARRIVAL:-1}" == 1 ]] || ORDER_FLAG=""
echo "== filling $EVENTS events ($BACKEND, ${ORDER_FLAG:-random time order})" >&2
"$LOADGEN" fill --database "$URL" --events "$EVENTS" --spread-days 20 --end-days-ago 1 \
    --threads 2 --no-rollups $ORDER_FLAG >&2

now() { date +%s.%N; }
COLUMNS_SQL="SELECT * FROM events ORDER BY timestamp DESC, seq DESC"
if [[ "$BACKEND" == postgres ]]; then
    psql "$URL" -qAt -c "VACUUM ANALYZE events" >&2
    ROWS="$(psql "$URL" -qAt -c "SELECT count(*) FROM events")"
    t0=$(now)
    psql "$URL" -qAt -c "COPY (${COLUMNS_SQL/timestamp/\"timestamp\"}) TO STDOUT" >/dev/null
    t1=$(now)
else
    DB_FILE="$WORK/export.db"
    ROWS="$(sqlite3 "$DB_FILE" "SELECT count(*) FROM events")"
    t0=$(now)
    sqlite3 -json "$DB_FILE" "$COLUMNS_SQL" >/dev/null
    t1=$(now)
fi
BASE_S=$(echo "$t1 - $t0" | bc -l)

printf '\n== results (%s, %s events, %s)\n' "$BACKEND" "$ROWS" "${ORDER_FLAG:-random time order}"
printf 'baseline (the database'"'"'s own dump, same order): %.2f s = %.0f events/s\n' \
    "$BASE_S" "$(echo "$ROWS / $BASE_S" | bc -l)"
for run in $(seq 1 "$RUNS"); do
    t0=$(now)
    "$BIN" export --database "$URL" --format jsonl -o "$WORK/export.jsonl" >/dev/null 2>&1
    t1=$(now)
    S=$(echo "$t1 - $t0" | bc -l)
    printf 'eventlog export --format jsonl, run %s: %.2f s = %.0f events/s (%.2f x the baseline rate), %s bytes\n' \
        "$run" "$S" "$(echo "$ROWS / $S" | bc -l)" "$(echo "$BASE_S / $S" | bc -l)" \
        "$(stat -c %s "$WORK/export.jsonl")"
    rm -f "$WORK/export.jsonl"
done
