#!/usr/bin/env bash
# edupro throughput with the eventlog layer against without it (--no-eventlog), measured
# with wrk over loopback in the same run, plus with the sink down (every event spooled).
#
#   bench/edupro.sh [SECONDS] [CONNECTIONS]     (defaults 15 s, 16 connections)
#
# Each variant runs the same mix: an authenticated student search (GET) and a student
# create (POST, a write with domain events and a SQL audit event). Needs `wrk`
# (apt-get install wrk).
set -euo pipefail
source "$(dirname "$0")/common.sh"
SECONDS_PER_RUN="${1:-15}"
CONNECTIONS="${2:-16}"
EDUPRO="$TARGET/release/edupro"
PASSWORD="bench-Pass-2025"

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
echo "== building release edupro (target dir $TARGET)" >&2
(cd "$ROOT" && cargo build --release -q -p edupro -p eventlog-cli)

WORK="$(mktemp -d)"
EDUPRO_PID=""
cleanup() {
    [ -n "$EDUPRO_PID" ] && kill "$EDUPRO_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# run_variant NAME EDUPRO-FLAGS...: starts edupro, logs in, runs wrk, prints requests/s.
run_variant() {
    local name="$1"
    shift
    local dir="$WORK/$name"
    mkdir -p "$dir"
    (cd "$dir" && exec "$EDUPRO" --listen 127.0.0.1:0 --demo-password "$PASSWORD" \
        --database "sqlite://$dir/edupro.db" --spool-dir "$dir/spool" "$@" >"$dir/out" 2>"$dir/err") &
    EDUPRO_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q '^listening on ' "$dir/out" 2>/dev/null && break
        sleep 0.1
    done
    local url
    url="$(sed -n 's/^listening on //p' "$dir/out")"
    local token
    token="$(curl -sf -d "username=guru01&password=$PASSWORD" "$url/api/auth/login" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')"
    cat >"$dir/mix.lua" <<EOF
local n = 0
request = function()
    n = n + 1
    if n % 4 == 0 then
        local body = string.format('{"nis":"%d-%d","name":"Budi %d","class":"X-1","score":80}', math.random(1, 1e9), n, n)
        return wrk.format("POST", "/api/students", {["Content-Type"] = "application/json",
            ["Authorization"] = "Bearer $token"}, body)
    end
    return wrk.format("GET", "/api/students?search=budi", {["Authorization"] = "Bearer $token"})
end
EOF
    wrk -t2 -c"$CONNECTIONS" -d2s -s "$dir/mix.lua" "$url" >/dev/null # warm-up
    local rps
    rps="$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$dir/mix.lua" "$url" |
        tee "$dir/wrk.txt" | awk '/^Requests\/sec:/ {print $2}')"
    local p99
    p99="$(awk '/^ +99%/ {print $2}' "$dir/wrk.txt")"
    kill "$EDUPRO_PID"
    wait "$EDUPRO_PID" 2>/dev/null || true
    EDUPRO_PID=""
    printf '%-28s %10s req/s   p99 %s\n' "$name" "$rps" "$p99" >&2
    echo "$rps"
}

echo "== edupro, ${SECONDS_PER_RUN}s per variant, $CONNECTIONS connections (3 GET : 1 POST)" >&2
base="$(run_variant no_eventlog --no-eventlog)"
"$BIN" --database "sqlite://$WORK/events.db" migrate >/dev/null
layer="$(run_variant layer_direct_sqlite --eventlog-database "sqlite://$WORK/events.db")"
# A port nothing listens on: the sink is down, every batch goes to the spool.
down_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
down="$(run_variant layer_sink_down --eventlog-url "http://127.0.0.1:$down_port" --eventlog-key unused)"
base_again="$(run_variant no_eventlog_again --no-eventlog)"
awk -v b="$base" -v b2="$base_again" -v l="$layer" -v d="$down" 'BEGIN {
    m = (b + b2) / 2
    printf "baseline (mean of the runs before and after) %.0f req/s\n", m
    printf "with the layer (direct SQLite store): %.3fx\n", l / m
    printf "with the layer, sink down (spooling): %.3fx\n", d / m
}'
