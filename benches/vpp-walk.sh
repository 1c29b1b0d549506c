#!/usr/bin/env bash
# Apps and Books walk throughput and memory: `vpp-assets` (release build)
# walks ASSETS assets (50,000 by default) and then ASSIGNMENTS license
# assignments (500,000 by default) of the simulator (`vpp-simulator`, a
# separate process, plain HTTP on loopback) with pages of PAGE records
# (1,000 by default).
#
#   bash benches/vpp-walk.sh
#   ASSETS=5000 ASSIGNMENTS=50000 bash benches/vpp-walk.sh
#
# Neither side paces requests here (the simulator's limit and the
# client's are off), so this measures the client and the simulator; at
# Apple's 15 requests a second per token the same walk takes at least
# pages / 15 seconds. Each run prints its summary (records per second and
# the client's peak RSS, VmHWM) and /usr/bin/time's view when installed.
# Fails if a walk does not return every record.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS="${ASSETS:-50000}"
ASSIGNMENTS="${ASSIGNMENTS:-500000}"
PAGE="${PAGE:-1000}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example vpp-assets --example vpp-simulator
fi
EX="$TARGET_DIR/release/examples"
WORK="$(mktemp -d)"
SIM_PID=""
trap '[ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
"$EX/vpp-simulator" --assets "$ASSETS" --assignments "$ASSIGNMENTS" --page-size "$PAGE" --rate 0 \
    --token-out "$WORK/sim.vpptoken" >"$WORK/sim.json" &
SIM_PID=$!
for _ in $(seq 1 600); do
    [ -s "$WORK/sim.json" ] && break
    sleep 0.1
done
[ -s "$WORK/sim.json" ] || { echo "the simulator did not start" >&2; exit 1; }
URL="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["base_url"])' "$WORK/sim.json")"
TIME=()
[ -x /usr/bin/time ] && TIME=(/usr/bin/time -f "client: %e s wall, %U s user + %S s system, max RSS %M KiB")
check() {
    python3 -c '
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
want = int(sys.argv[2])
print(json.dumps(s))
assert s["summary"] and s["records"] == want, "walked %s records, expected %d" % (s["records"], want)
' "$1" "$2"
}
echo "== vpp-assets --quiet: walk $ASSETS assets, pages of $PAGE"
"${TIME[@]}" "$EX/vpp-assets" --token "$WORK/sim.vpptoken" --base-url "$URL" --rate 0 --quiet >"$WORK/assets.json"
check "$WORK/assets.json" "$ASSETS"
echo "== vpp-assets --assignments --quiet: walk $ASSIGNMENTS assignments"
"${TIME[@]}" "$EX/vpp-assets" --token "$WORK/sim.vpptoken" --base-url "$URL" --rate 0 --assignments --quiet >"$WORK/assignments.json"
check "$WORK/assignments.json" "$ASSIGNMENTS"
echo "== vpp-assets --assignments printing every assignment (JSON lines into a file)"
"${TIME[@]}" "$EX/vpp-assets" --token "$WORK/sim.vpptoken" --base-url "$URL" --rate 0 --assignments >"$WORK/lines.jsonl"
echo "$(($(wc -l <"$WORK/lines.jsonl") - 1)) lines, $(du -k "$WORK/lines.jsonl" | cut -f1) KiB"
check "$WORK/lines.jsonl" "$ASSIGNMENTS"
