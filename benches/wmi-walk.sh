#!/usr/bin/env bash
# Walking a 100,000-device site's SMS_R_System over loopback, side by side:
# our client (the wmi-query example, release build) over AdminService
# (pages of 1,000) and over WinRM (NTLM-sealed HTTP, Pull batches of
# BATCH), and pywinrm (an independent WinRM client: NTLM, message
# encryption) over the same WinRM endpoint of the same simulator.
#
#   bash benches/wmi-walk.sh                 # SYSTEMS=100000 BATCH=500
#   SYSTEMS=20000 bash benches/wmi-walk.sh
#
# Prints rows, seconds, rows per second and the client's peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
SYSTEMS="${SYSTEMS:-100000}"
BATCH="${BATCH:-500}"
PYTHON="${PIPPIN_PYTHON:-python3}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example wmi-simulator --example wmi-query
fi
EX="$TARGET_DIR/release/examples"
"$PYTHON" -c 'import winrm' 2>/dev/null || { echo "benches/wmi-walk.sh needs pywinrm for $PYTHON (PIPPIN_PYTHON)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "benches/wmi-walk.sh needs GNU time (/usr/bin/time)" >&2; exit 1; }

WORK="$(mktemp -d)"
SIM_PID=""
cleanup() {
    [ -n "$SIM_PID" ] && kill "$SIM_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
ACCOUNT='CONTOSO\svc_bridge'
export PIPPIN_WMI_PASSWORD='Bench-Pa55word'
"$EX/wmi-simulator" --systems "$SYSTEMS" --ntlm "$ACCOUNT:$PIPPIN_WMI_PASSWORD" >"$WORK/sim.json" 2>"$WORK/sim.log" &
SIM_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/sim.json" ] && break; sleep 0.1; done
ADMIN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["adminservice"])' "$WORK/sim.json")"
WSMAN="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["wsman"])' "$WORK/sim.json")"

# One run: prints "rows seconds peak_kib".
ours() {
    /usr/bin/time -f '%e %M' -o "$WORK/time" "$EX/wmi-query" "$@" --user "$ACCOUNT" --class SMS_R_System \
        >"$WORK/rows.jsonl" 2>"$WORK/query.err"
    local rows
    rows="$(wc -l <"$WORK/rows.jsonl")"
    echo "$rows $(cat "$WORK/time")"
}

row() { printf '| %-52s | %8s | %7s | %10s | %9s |\n' "$@"; }
line() {
    python3 -c '
import sys
name, rows, secs, kib = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print("| %-52s | %8d | %7.2f | %10.0f | %9.1f |" % (name, rows, secs, rows / secs, kib / 1024))' "$@"
}

echo "SMS_R_System walk over loopback, $SYSTEMS rows; $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
row "client" "rows" "seconds" "rows/s" "peak MiB"
row "---" "---" "---" "---" "---"
read -r n s k <<<"$(ours --adminservice "$ADMIN")"
line "wmi-query, AdminService (NTLM, pages of 1,000)" "$n" "$s" "$k"
read -r n s k <<<"$(ours --wsman "$WSMAN" --site PS1 --batch "$BATCH")"
line "wmi-query, WinRM (NTLM-sealed HTTP, Pull of $BATCH)" "$n" "$s" "$k"
"$PYTHON" benches/pywinrm_walk.py "$WSMAN" "$ACCOUNT" "$PIPPIN_WMI_PASSWORD" PS1 SMS_R_System "$BATCH" >"$WORK/py.json"
python3 -c '
import json, sys
o = json.load(open(sys.argv[1]))
print("| %-52s | %8d | %7.2f | %10.0f | %9.1f |" % ("pywinrm, WinRM (NTLM-sealed HTTP, Pull of %s)" % sys.argv[2], o["rows"], o["seconds"], o["rows_per_second"], o["peak_rss_mib"]))
assert o["rows"] == o["unique"], o' "$WORK/py.json" "$BATCH"
