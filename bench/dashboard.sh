#!/usr/bin/env bash
# Dashboard page server time and first-load weight over a large store (bench/README.md).
#
#   bench/dashboard.sh [sqlite|postgres] [EVENTS]
#
# Fills a fresh store with `eventlog demo --events EVENTS` (default 1,000,000, over 7 days),
# starts the server, signs in through the dashboard's form and measures, sequentially on
# one connection after 10 warm-up requests each:
#   - the overview (`/?hours=24`) against its baseline, the summary endpoint for the same
#     window (`/api/events/analytics/summary?hours=24`): the page makes that call and four
#     more (two time series, endpoints, critical events) and renders;
#   - the events page (`/events`) against `GET /api/events/recent` (its one store call);
#   - the first page load: bytes of the overview HTML (inline SVG charts included) plus the
#     stylesheet, the script and the icon, uncompressed.
# Times are curl's time_starttransfer on loopback (request sent to first byte back), in ms.
# STORE=URL reuses a filled store (never deleted; KEY=... its admin key).
set -euo pipefail

BACKEND="${1:-sqlite}"
EVENTS="${2:-1000000}"
REQUESTS="${REQUESTS:-200}"

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

case "$BACKEND" in sqlite | postgres) ;; *)
    echo "usage: $0 [sqlite|postgres] [EVENTS]" >&2
    exit 2
    ;;
esac

WORK="$(mktemp -d -t eventlog-dash.XXXXXX)"
PG_DB="eventlog_dash_$$"
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

echo "== building the release binary" >&2
(cd "$ROOT" && cargo build --release -q -p eventlog-cli)

if [[ -n "${STORE:-}" ]]; then
    DB_URL="$STORE"
    OWN_STORE=0
else
    if [[ "$BACKEND" == postgres ]]; then
        pg_create_db "$PG_DB"
        DB_URL="$PG_SERVER/$PG_DB"
    else
        DB_URL="sqlite://$WORK/eventlog.db"
    fi
    echo "== eventlog demo --events $EVENTS" >&2
    start=$(date +%s.%N)
    (cd "$WORK" && "$BIN" demo --events "$EVENTS" --days 7 --database "$DB_URL" >"$WORK/demo.out")
    end=$(date +%s.%N)
    cat "$WORK/demo.out" >&2
    DEMO_SECS=$(python3 -c "print(f'{$end - $start:.1f}')")
fi
start_server "$DB_URL" "$WORK"

# Sign in through the form: the CSRF cookie and token, then the session cookie.
JAR="$WORK/cookies"
form="$(curl -s -c "$JAR" "$SERVER_URL/signin")"
csrf="$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' <<<"$form" | head -n1)"
curl -s -o /dev/null -b "$JAR" -c "$JAR" --data-urlencode "key=$SERVER_KEY" \
    --data-urlencode "csrf=$csrf" --data-urlencode "next=/" "$SERVER_URL/signin"
grep -q eventlog_session "$JAR" || { echo "sign-in failed" >&2; exit 1; }

# p50/p95/p99 in ms of REQUESTS sequential GETs of $1 (with the session or the key).
measure() {
    local path="$1" auth="$2" i
    local args=(-s -o /dev/null -w '%{http_code} %{time_starttransfer}\n')
    if [[ "$auth" == session ]]; then args+=(-b "$JAR"); else args+=(-H "Authorization: Bearer $SERVER_KEY"); fi
    for i in $(seq 1 10); do curl "${args[@]}" "$SERVER_URL$path" >/dev/null; done
    for i in $(seq 1 "$REQUESTS"); do curl "${args[@]}" "$SERVER_URL$path"; done |
        python3 -c '
import sys
rows = [l.split() for l in sys.stdin if l.strip()]
bad = [r for r in rows if r[0] != "200"]
if bad: sys.exit(f"non-200 answers: {bad[:3]}")
t = sorted(float(r[1]) * 1000 for r in rows)
q = lambda p: t[min(len(t) - 1, int(p * len(t)))]
print(f"{q(0.50):.1f} {q(0.95):.1f} {q(0.99):.1f}")'
}

overview="$(measure '/?hours=24' session)"
summary="$(measure '/api/events/analytics/summary?hours=24' key)"
events="$(measure '/events' session)"
recent="$(measure '/api/events/recent' key)"
bytes() { curl -s -b "$JAR" -o /dev/null -w '%{size_download}' "$SERVER_URL$1"; }
html=$(bytes '/?hours=24')
css=$(bytes /assets/dashboard.css)
js=$(bytes /assets/dashboard.js)
icon=$(bytes /assets/favicon.svg)
rows="$(curl -s -H "Authorization: Bearer $SERVER_KEY" "$SERVER_URL/api/events/analytics/summary?hours=8784" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["total_events"])')"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
read -r o50 o95 o99 <<<"$overview"
read -r s50 s95 s99 <<<"$summary"
read -r e50 e95 e99 <<<"$events"
read -r r50 r95 r99 <<<"$recent"
echo
echo "store: $BACKEND, $rows events${DEMO_SECS:+ (eventlog demo took ${DEMO_SECS} s)}; $REQUESTS requests each"
printf '%-44s %8s %8s %8s %s\n' "request" "p50 ms" "p95 ms" "p99 ms" "p95 / baseline"
printf '%-44s %8s %8s %8s %s\n' "GET /?hours=24 (overview page)" "$o50" "$o95" "$o99" "$(ratio "$o95" "$s95")"
printf '%-44s %8s %8s %8s %s\n' "GET /api/events/analytics/summary (baseline)" "$s50" "$s95" "$s99" "1.00"
printf '%-44s %8s %8s %8s %s\n' "GET /events (events page)" "$e50" "$e95" "$e99" "$(ratio "$e95" "$r95")"
printf '%-44s %8s %8s %8s %s\n' "GET /api/events/recent (baseline)" "$r50" "$r95" "$r99" "1.00"
echo "first page load: $((html + css + js + icon)) bytes (HTML with inline SVG $html, CSS $css, JS $js, icon $icon), uncompressed"
