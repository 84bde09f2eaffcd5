#!/usr/bin/env bash
# Shared helpers of bench/ingest.sh and bench/query.sh (sourced, not run).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET/release/eventlog"
LOADGEN="$TARGET/release/eventlog-loadgen"
PG_SERVER="${PG_SERVER:-postgres://root@127.0.0.1:5432}"
PSQL=(psql "$PG_SERVER/postgres" -v ON_ERROR_STOP=1 -qAt)

SERVER_PID=""
SERVER_OUT=""
SERVER_URL=""
SERVER_KEY=""

build() {
    if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
        echo "== SKIP_BUILD=1: using the release binaries already in $TARGET" >&2
        return
    fi
    echo "== building release binaries (target dir $TARGET)" >&2
    (cd "$ROOT" && cargo build --release -q -p eventlog-cli -p eventlog-loadgen)
}

# start_server DATABASE_URL WORKDIR: starts `eventlog serve` on a free loopback port and
# sets SERVER_PID, SERVER_URL and SERVER_KEY (the first admin key it prints). Rate limits
# are off ([limits] enabled = false): one load generator on loopback is one key and one
# address, and the benches measure the server, not its throttle.
start_server() {
    local db="$1" dir="$2"
    SERVER_OUT="$dir/serve.out"
    printf '[limits]\nenabled = false\n' >"$dir/bench-server.toml"
    # A PostgreSQL store reused from an earlier run (STORE=...) needs the key that signed its
    # checkpoints: SIGNING_KEY_FILE=.../eventlog-data/checkpoint-signing.key.
    if [[ -n "${SIGNING_KEY_FILE:-}" ]]; then
        printf '[integrity]\nsigning_key_file = "%s"\n' "$SIGNING_KEY_FILE" >>"$dir/bench-server.toml"
    fi
    (cd "$dir" && exec "$BIN" serve --listen 127.0.0.1:0 --database "$db" --config "$dir/bench-server.toml" >"$SERVER_OUT" 2>"$dir/serve.err") &
    SERVER_PID=$!
    local i
    for i in $(seq 1 600); do
        if grep -q '^listening on ' "$SERVER_OUT" 2>/dev/null; then
            break
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "eventlog serve exited:" >&2
            cat "$dir/serve.err" >&2
            return 1
        fi
        sleep 0.1
    done
    SERVER_URL="$(sed -n 's/^listening on //p' "$SERVER_OUT" | head -n1)"
    SERVER_KEY="$(grep -A1 '^created the first admin key' "$SERVER_OUT" | sed -n 2p || true)"
    SERVER_KEY="${SERVER_KEY:-${KEY:-}}"
    if [[ -z "$SERVER_URL" || -z "$SERVER_KEY" ]]; then
        echo "could not read the URL and first admin key from eventlog serve:" >&2
        cat "$SERVER_OUT" "$dir/serve.err" >&2
        return 1
    fi
    echo "== eventlog serve (pid $SERVER_PID) at $SERVER_URL" >&2
}

# server_rss_kib: peak resident set (VmHWM) of the server, KiB.
server_rss_kib() {
    awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"
}

# server_cpu_s: CPU seconds (user + system) the server has used so far.
server_cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$SERVER_PID/stat"
}

stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local i
        for i in $(seq 1 300); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

pg_create_db() { "${PSQL[@]}" -c "CREATE DATABASE \"$1\""; }
pg_drop_db() { "${PSQL[@]}" -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>&1 || true; }

# pg_bytes_per_event DB: "ROWS BYTES" of eventlog's events (all partitions, indexes, TOAST).
pg_rows_bytes() {
    psql "$PG_SERVER/$1" -v ON_ERROR_STOP=1 -qAt -F' ' -c "CHECKPOINT" -c \
        "SELECT (SELECT count(*) FROM events),
                (SELECT COALESCE(SUM(pg_total_relation_size(inhrelid)), 0)
                   FROM pg_inherits WHERE inhparent = 'events'::regclass)"
}

# sqlite_rows_bytes FILE: "ROWS BYTES" after a checkpoint (file plus any -wal left).
sqlite_rows_bytes() {
    local f="$1" rows
    rows="$(sqlite3 "$f" 'PRAGMA wal_checkpoint(TRUNCATE);' 'SELECT count(*) FROM events;' | tail -n1)"
    local bytes=0 part
    for part in "$f" "$f-wal"; do
        [[ -f "$part" ]] && bytes=$((bytes + $(stat -c %s "$part")))
    done
    echo "$rows $bytes"
}

# json_field LINE FIELD: a numeric field of a one-line JSON report.
json_field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
