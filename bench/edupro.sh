#!/usr/bin/env bash
# edupro throughput with the eventlog layer against without it (--no-eventlog), measured
# with wrk over loopback in the same run, plus with the sink down (every event spooled).
#
#   bench/edupro.sh [SECONDS] [CONNECTIONS]     (defaults 15 s, 16 connections)
#   ROUNDS=N (default 5), SKIP_BUILD=1 (use the release binaries already built)
#
# The three variants run side by side (each its own edupro process and database) and are
# loaded in turn, ROUNDS times (default 5), SECONDS each: this machine's speed drifts by
# 15-25% within minutes, so each variant is compared with the baseline of its own round,
# and the median of the rounds' ratios is the figure. Each run is the same mix: an
# authenticated student search (GET) and a student create (POST, a write with domain
# events and a SQL audit event). Needs `wrk` (apt-get install wrk).
set -euo pipefail
source "$(dirname "$0")/common.sh"
SECONDS_PER_RUN="${1:-15}"
CONNECTIONS="${2:-16}"
ROUNDS="${ROUNDS:-5}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a whole number of at least 1" >&2; exit 2; }
EDUPRO="$TARGET/release/edupro"
PASSWORD="bench-Pass-2025"
VARIANTS=(no_eventlog layer_direct_sqlite layer_sink_down)

command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
    echo "== SKIP_BUILD=1: using the release binaries already in $TARGET" >&2
else
    echo "== building release edupro (target dir $TARGET)" >&2
    (cd "$ROOT" && cargo build --release -q -p edupro -p eventlog-cli)
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start_variant NAME EDUPRO-FLAGS...: starts edupro, logs in, writes the wrk script and
# warms it up. Leaves its URL in $WORK/NAME/url.
start_variant() {
    local name="$1"
    shift
    local dir="$WORK/$name"
    mkdir -p "$dir"
    (cd "$dir" && exec "$EDUPRO" --listen 127.0.0.1:0 --demo-password "$PASSWORD" \
        --database "sqlite://$dir/edupro.db" --spool-dir "$dir/spool" "$@" >"$dir/out" 2>"$dir/err") &
    PIDS+=($!)
    local i
    for i in $(seq 1 100); do
        grep -q '^listening on ' "$dir/out" 2>/dev/null && break
        sleep 0.1
    done
    local url
    url="$(sed -n 's/^listening on //p' "$dir/out")"
    [[ -n "$url" ]] || { echo "edupro ($name) did not start:" >&2; cat "$dir/err" >&2; exit 1; }
    echo "$url" >"$dir/url"
    local token
    token="$(curl -sf -d "username=guru01&password=$PASSWORD" "$url/api/auth/login" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p' || true)"
    [[ -n "$token" ]] || { echo "edupro ($name): the demo login failed" >&2; cat "$dir/err" >&2; exit 1; }
    # Student numbers unique across wrk's threads and runs (each thread has its own Lua
    # state, with the same random seed): a repeated number is a 409, not a create.
    cat >"$dir/mix.lua" <<EOF
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end
local n = 0
local run = 0
function init(args)
    run = os.time()
    math.randomseed(run * 100 + tid)
end
request = function()
    n = n + 1
    if n % 4 == 0 then
        local body = string.format('{"nis":"%d-%d-%d-%d","name":"Budi %d","class":"X-1","score":80}', run, tid, n, math.random(1, 1e9), n)
        return wrk.format("POST", "/api/students", {["Content-Type"] = "application/json",
            ["Authorization"] = "Bearer $token"}, body)
    end
    return wrk.format("GET", "/api/students?search=budi", {["Authorization"] = "Bearer $token"})
end
EOF
    wrk -t2 -c"$CONNECTIONS" -d2s -s "$dir/mix.lua" "$url" >/dev/null # warm-up
}

# run_variant NAME ROUND: one wrk run against a started variant; prints requests/s.
run_variant() {
    local dir="$WORK/$1"
    local rps p99
    rps="$(wrk -t2 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$dir/mix.lua" "$(cat "$dir/url")" |
        tee "$dir/wrk-$2.txt" | awk '/^Requests\/sec:/ {print $2}')"
    if [[ -z "$rps" ]] || ! awk -v r="$rps" 'BEGIN { exit !(r > 0) }' ||
        grep -q 'Non-2xx or 3xx responses' "$dir/wrk-$2.txt"; then
        echo "wrk gave no figure or failed requests for $1 (round $2):" >&2
        cat "$dir/wrk-$2.txt" "$dir/err" >&2
        exit 1
    fi
    p99="$(awk '/^ +99%/ {print $2}' "$dir/wrk-$2.txt")"
    printf '  round %d  %-22s %10s req/s   p99 %s\n' "$2" "$1" "$rps" "$p99" >&2
    echo "$rps"
}

echo "== edupro: $ROUNDS rounds x ${SECONDS_PER_RUN}s per variant, $CONNECTIONS connections (3 GET : 1 POST)" >&2
"$BIN" --database "sqlite://$WORK/events.db" migrate >/dev/null
start_variant no_eventlog --no-eventlog
start_variant layer_direct_sqlite --eventlog-database "sqlite://$WORK/events.db"
# A port nothing listens on: the sink is down, every batch goes to the spool.
down_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
start_variant layer_sink_down --eventlog-url "http://127.0.0.1:$down_port" --eventlog-key unused

RESULTS="$WORK/results"
: >"$RESULTS"
for round in $(seq 1 "$ROUNDS"); do
    # Each round starts with a different variant, so none always runs first or last.
    for k in "${!VARIANTS[@]}"; do
        name="${VARIANTS[$(((round + k) % ${#VARIANTS[@]}))]}"
        rps="$(run_variant "$name" "$round")"
        echo "$round $name $rps" >>"$RESULTS"
    done
done

# Per round: each variant over that round's baseline; then the median over the rounds.
awk '
    { rps[$1, $2] = $3; rounds = ($1 > rounds ? $1 : rounds) }
    function median(a, n,    i, j, t) {
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
        for (r = 1; r <= rounds; r++) {
            base[r] = rps[r, "no_eventlog"]
            direct[r] = rps[r, "layer_direct_sqlite"] / base[r]
            down[r] = rps[r, "layer_sink_down"] / base[r]
            printf "round %d: baseline %.0f req/s, direct store %.3fx, spooling %.3fx\n", r, base[r], direct[r], down[r]
        }
        printf "baseline, median of the rounds: %.0f req/s\n", median(base, rounds)
        printf "with the layer (direct SQLite store): %.3fx (median of %d rounds)\n", median(direct, rounds), rounds
        printf "with the layer, sink down (spooling): %.3fx (median of %d rounds)\n", median(down, rounds), rounds
    }' "$RESULTS"
