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
# /usr/bin/time's view of the client when it is installed. Then CHANGES
# devices (1,000 by default) are added on the simulator and a third run
# resumes from the first run's cursor: only the changes come.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICES="${DEVICES:-100000}"
CHANGES="${CHANGES:-1000}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example dep-sync --example dep-simulator
fi
EX="$TARGET_DIR/release/examples"
WORK="$(mktemp -d)"
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
mkfifo "$WORK/sim.in"
"$EX/dep-simulator" --devices "$DEVICES" --token-json "$WORK/token.json" --control-stdin \
    <"$WORK/sim.in" >"$WORK/sim.json" &
SIM_PID=$!
exec 7>"$WORK/sim.in"
for _ in $(seq 1 100); do
    [ -s "$WORK/sim.json" ] && break
    sleep 0.1
done
URL="$(head -n 1 "$WORK/sim.json" | python3 -c 'import json, sys; print(json.load(sys.stdin)["base_url"])')"
TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -f "client: %e s wall, %U s user + %S s system, max RSS %M KiB")
echo "== dep-sync --quiet: fetch $DEVICES devices from the simulator, then sync"
"${TIME[@]}" "$EX/dep-sync" --base-url "$URL" --token-json "$WORK/token.json" --quiet | tee "$WORK/first.json"
echo "== dep-sync printing every device (JSON lines into a file)"
"${TIME[@]}" "$EX/dep-sync" --base-url "$URL" --token-json "$WORK/token.json" >"$WORK/devices.jsonl"
echo "$(($(wc -l <"$WORK/devices.jsonl") - 1)) device lines, $(du -k "$WORK/devices.jsonl" | cut -f1) KiB; summary:"
tail -n 1 "$WORK/devices.jsonl"
echo "== dep-sync --quiet from the first run's cursor, after $CHANGES devices were added"
echo "add $CHANGES" >&7
for _ in $(seq 1 100); do
    [ "$(wc -l <"$WORK/sim.json")" -ge 2 ] && break
    sleep 0.1
done
CURSOR="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["cursor"])' "$WORK/first.json")"
"${TIME[@]}" "$EX/dep-sync" --base-url "$URL" --token-json "$WORK/token.json" --quiet \
    --cursor "$CURSOR" --synced
