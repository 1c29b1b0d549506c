#!/usr/bin/env bash
# DEP device sync throughput and memory: `dep-sync` (release build) pages
# through DEVICES devices (100,000 by default) of the DEP simulator
# (`dep-simulator`, a separate process, plain HTTP on loopback) with the
# largest page (1,000 devices), then syncs until caught up.
#
#   bash benches/dep-sync.sh                 # DEVICES=100000
#   DEVICES=10000 bash benches/dep-sync.sh
#
# Runs it twice: once with --quiet (parse only, the summary line), once
# printing every device as a JSON line (into a file). Each prints the
# summary: devices per second and the client's peak RSS (VmHWM), and
# /usr/bin/time's view of the client when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES="${DEVICES:-100000}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example dep-sync --example dep-simulator
fi
EX="$TARGET_DIR/release/examples"
WORK="$(mktemp -d)"
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
"$EX/dep-simulator" --devices "$DEVICES" --token-json "$WORK/token.json" >"$WORK/sim.json" &
SIM_PID=$!
for _ in $(seq 1 100); do
    [ -s "$WORK/sim.json" ] && break
    sleep 0.1
done
URL="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_url"])' "$WORK/sim.json")"
TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -f "client: %e s wall, %U s user + %S s system, max RSS %M KiB")
echo "== dep-sync --quiet: fetch $DEVICES devices from the simulator, then sync"
"${TIME[@]}" "$EX/dep-sync" --base-url "$URL" --token-json "$WORK/token.json" --quiet
echo "== dep-sync printing every device (JSON lines into a file)"
"${TIME[@]}" "$EX/dep-sync" --base-url "$URL" --token-json "$WORK/token.json" >"$WORK/devices.jsonl"
echo "$(($(wc -l <"$WORK/devices.jsonl") - 1)) device lines, $(du -k "$WORK/devices.jsonl" | cut -f1) KiB; summary:"
tail -n 1 "$WORK/devices.jsonl"
