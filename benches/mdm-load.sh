#!/usr/bin/env bash
# MDM load benchmark, side by side in one run: simulated devices against
# `pippin serve` on loopback, with SQLite and (when a server is given) with
# PostgreSQL, plus the same HTTP stack's plain TLS request rate as a ceiling.
#
#   bash benches/mdm-load.sh
#   PIPPIN_BENCH_POSTGRES_URL=postgres://pippin@127.0.0.1:5433/pippin_bench bash benches/mdm-load.sh
#
# DEVICES (1000) devices enroll (profile, SCEP, Authenticate, TokenUpdate),
# COMMANDS (5) DeviceInformation commands are queued for each through the
# admin API, then every device runs one Idle session that fetches and answers
# them all. The simulator reports command round trips per second and
# latency percentiles. The ceiling is `wrk` (Debian package) fetching a
# static page from the same listener.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES="${DEVICES:-1000}"
COMMANDS="${COMMANDS:-5}"
PORT="${PORT:-18960}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin -p pippin-examples --example mdm-device-sim
fi
PIPPIN="$TARGET_DIR/release/pippin"
SIM="$TARGET_DIR/release/examples/mdm-device-sim"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

start_server() {
    local dir="$1"; shift
    "$PIPPIN" serve --data-dir "$dir" --listen "127.0.0.1:$PORT" \
        --public-url "https://127.0.0.1:$PORT" --log-level warn "$@" >"$dir.out" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -sf --cacert "$dir/ca.pem" "https://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    cat "$dir.out" >&2
    return 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

run_backend() {
    local name="$1"; shift
    local dir="$WORK/$name"
    echo "== $name: $DEVICES devices, $COMMANDS commands each"
    start_server "$dir" "$@"
    local token; token="$(cat "$dir/admin-token")"
    "$SIM" --server "https://127.0.0.1:$PORT" --ca "$dir/ca.pem" --devices "$DEVICES" \
        --rounds 0 --state-dir "$dir/sim" --platform macos >"$dir.enroll.txt" 2>"$dir.enroll.err"
    grep -E "enrolled|enrol" "$dir.enroll.txt" | head -n 3
    python3 benches/queue_commands.py "https://127.0.0.1:$PORT" "$dir/ca.pem" "$token" "$COMMANDS"
    "$SIM" --server "https://127.0.0.1:$PORT" --ca "$dir/ca.pem" --devices "$DEVICES" \
        --rounds 1 --state-dir "$dir/sim" --platform macos --no-mdm-signature 2>"$dir.run.err" | tee "$dir.run.txt"
    if [ "$name" = sqlite ] && command -v wrk >/dev/null; then
        echo "-- ceiling: plain TLS GET of a static page, same listener (wrk, 2 threads, 64 connections, 10 s)"
        wrk -t2 -c64 -d10s "https://127.0.0.1:$PORT/ca.pem" | grep -E "Requests/sec|Latency"
    fi
    stop_server
    echo
}

run_backend sqlite
if [ -n "${PIPPIN_BENCH_POSTGRES_URL:-}" ]; then
    run_backend postgres --database-url "$PIPPIN_BENCH_POSTGRES_URL"
else
    echo "== postgres: skipped (set PIPPIN_BENCH_POSTGRES_URL to a database the run may fill)"
fi
command -v wrk >/dev/null || echo "(install Debian's wrk for the TLS ceiling line)"
