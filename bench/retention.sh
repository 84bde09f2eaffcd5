#!/usr/bin/env bash
# Retention and export on PostgreSQL: fills a fresh database with EVENTS generated events
# (default 5,000,000) spread over days 1..27 of the month 13 months ago (expired under
# every default policy, alone in their monthly partition), then measures, in one run:
#   1. the baseline: a raw `COPY (SELECT * FROM <partition>) TO STDOUT` of the same rows
#   2. `eventlog export --format jsonl` of every event (events/s, ratio to 1)
#   3. `eventlog archive ahead`: the closed days archived before they expire (what `serve`
#      does before each scheduled run; seconds, events/s)
#   4. `eventlog retention run`: check the archives made ahead, drop the partition, sign
#      the pruning records (seconds, ratio to 1)
#   5. `eventlog verify` afterwards (must say OK).
# AHEAD=0 skips step 3, so the retention run archives, verifies and drops in one go.
# Usage: bench/retention.sh [EVENTS]. KEEP=1 keeps the database and the files.
# ARRIVAL=1 fills in arrival order (timestamps rising as written, as from running apps);
# the default is a back-fill in random time order, the worst case for reading in time order.
set -euo pipefail
source "$(dirname "$0")/common.sh"

EVENTS="${1:-5000000}"
DB="eventlog_retbench_$$"
URL="$PG_SERVER/$DB"
WORK="$(mktemp -d)"
cleanup() {
    if [[ "${KEEP:-0}" != 1 ]]; then
        "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
        rm -rf "$WORK"
    else
        echo "kept database $DB and $WORK" >&2
    fi
}
trap cleanup EXIT

build

# The month 13 months ago; events on its days 1..27.
MONTH="$(date -u -d "$(date -u +%Y-%m-01) -13 months" +%Y-%m-01)"
END="$(date -u -d "$MONTH +27 days" +%Y-%m-%d)"
END_DAYS_AGO=$(( ($(date -u +%s) - $(date -u -d "$END" +%s)) / 86400 + 1 ))
PARTITION="events_p$(date -u -d "$MONTH" +%Y_%m)"
echo "== filling $EVENTS events into $PARTITION ($MONTH, 26 days ending $END_DAYS_AGO days ago)" >&2
# Without rollups: retention and export read the events table only, and the fill is ~5x faster.
"$LOADGEN" fill --database "$URL" --events "$EVENTS" --spread-days 26 --end-days-ago "$END_DAYS_AGO" --threads 2 --no-rollups ${ARRIVAL:+--arrival-order} >&2

cat >"$WORK/eventlog.toml" <<TOML
[integrity]
signing_key_file = "$WORK/signing.key"
[retention]
archive_dir = "$WORK/archive"
TOML

now() { date +%s.%N; }
# A store that has been running has planner statistics (autovacuum analyzes); a bulk-loaded
# one has none until then, and without them the archive's paging query sorts the rest of
# the day for every page (measured: 1.26 s instead of ~15 ms per 5,000 rows). Run ANALYZE
# after a bulk import; the bench does, so it measures the steady state.
psql "$URL" -qAt -c "ANALYZE events" >&2
ROWS="$(psql "$URL" -qAt -c "SELECT count(*) FROM $PARTITION")"

t0=$(now)
psql "$URL" -qAt -c "COPY (SELECT * FROM $PARTITION) TO STDOUT" >/dev/null
t1=$(now)
COPY_S=$(echo "$t1 - $t0" | bc -l)

t0=$(now)
"$BIN" export --database "$URL" --config "$WORK/eventlog.toml" --format jsonl -o "$WORK/export.jsonl" >&2
t1=$(now)
EXPORT_S=$(echo "$t1 - $t0" | bc -l)
EXPORT_BYTES=$(stat -c %s "$WORK/export.jsonl")
rm -f "$WORK/export.jsonl"

AHEAD_S=0
if [[ "${AHEAD:-1}" == 1 ]]; then
    t0=$(now)
    "$BIN" archive ahead --database "$URL" --config "$WORK/eventlog.toml" >&2
    t1=$(now)
    AHEAD_S=$(echo "$t1 - $t0" | bc -l)
fi

t0=$(now)
"$BIN" retention run --database "$URL" --config "$WORK/eventlog.toml" >"$WORK/retention.out"
t1=$(now)
RET_S=$(echo "$t1 - $t0" | bc -l)
cat "$WORK/retention.out" >&2
ARCHIVE_BYTES=$(du -sb "$WORK/archive" | cut -f1)

"$BIN" verify --database "$URL" --config "$WORK/eventlog.toml" >"$WORK/verify.out"
cat "$WORK/verify.out" >&2
LEFT="$(psql "$URL" -qAt -c "SELECT count(*) FROM events WHERE event_category <> 'ADMIN'")"

printf '\n== results (%s events in %s)\n' "$ROWS" "$PARTITION"
printf 'raw COPY out of the partition (baseline): %.2f s = %.0f events/s\n' "$COPY_S" "$(echo "$ROWS / $COPY_S" | bc -l)"
printf 'eventlog export --format jsonl:          %.2f s = %.0f events/s (%.2f x the COPY rate), %s bytes of JSONL\n' \
    "$EXPORT_S" "$(echo "$ROWS / $EXPORT_S" | bc -l)" "$(echo "$COPY_S / $EXPORT_S" | bc -l)" "$EXPORT_BYTES"
if [[ "${AHEAD:-1}" == 1 ]]; then
    printf 'eventlog archive ahead (before expiry):  %.2f s = %.0f events/s\n' \
        "$AHEAD_S" "$(echo "$ROWS / $AHEAD_S" | bc -l)"
fi
printf 'eventlog retention run:                 %.2f s = %.0f events/s (%.2f x the COPY time), archives %s bytes\n' \
    "$RET_S" "$(echo "$ROWS / $RET_S" | bc -l)" "$(echo "$RET_S / $COPY_S" | bc -l)" "$ARCHIVE_BYTES"
printf 'events left after retention: %s; verify: %s\n' "$LEFT" "$(head -n1 "$WORK/verify.out" | cut -c1-60)"
