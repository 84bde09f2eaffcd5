#!/usr/bin/env bash
# What rollups cost at ingest (bench/README.md "What rollups cost at ingest").
#
#   bench/rollup-cost.sh [sqlite|postgres] [ROUNDS] [EVENTS]     (defaults sqlite 3 300000)
#
# Each round fills a fresh store with EVENTS generated events stamped "now" in arrival
# order (live ingest) through `store.write` in 10,000-event transactions, first without
# rollups (`--no-rollups`), then with them (the shipped path), and prints both rates and
# their ratio. Pairs run back to back with one binary, so the ratio is fair on a noisy
# machine; read the mean over the rounds.
set -euo pipefail

BACKEND="${1:-sqlite}"
ROUNDS="${2:-3}"
EVENTS="${3:-300000}"

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "$BACKEND" in sqlite | postgres) ;; *)
    echo "usage: $0 [sqlite|postgres] [ROUNDS] [EVENTS]" >&2
    exit 2
    ;;
esac

WORK="$(mktemp -d -t eventlog-rollup-cost.XXXXXX)"
cleanup() {
    if [[ "$BACKEND" == postgres ]]; then
        pg_drop_db "eventlog_rollup_cost_$$_no"
        pg_drop_db "eventlog_rollup_cost_$$_yes"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

build

rate() { # MODE (no|yes): prints events/s of one fresh fill
    local mode="$1" url flag=""
    [[ "$mode" == no ]] && flag="--no-rollups"
    if [[ "$BACKEND" == sqlite ]]; then
        rm -f "$WORK/$mode.db"*
        url="sqlite://$WORK/$mode.db"
    else
        pg_drop_db "eventlog_rollup_cost_$$_$mode"
        url="$PG_SERVER/eventlog_rollup_cost_$$_$mode"
    fi
    "$LOADGEN" fill --database "$url" --events "$EVENTS" --spread-days 0 --arrival-order $flag |
        grep '"bench":"fill"' | sed 's/.*"events_per_s":\([0-9]*\).*/\1/'
}

echo "round  without rollups  with rollups  ratio"
for round in $(seq 1 "$ROUNDS"); do
    without="$(rate no)"
    with="$(rate yes)"
    printf '%5d  %15s  %12s  %s\n' "$round" "$without" "$with" \
        "$(awk -v a="$with" -v b="$without" 'BEGIN {printf "%.2f", a / b}')"
done
