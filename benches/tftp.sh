#!/usr/bin/env bash
# TFTP download throughput over loopback, side by side: our server
# (`netboot-server`, release build, TFTP only; SERVER=tftp-serve for the
# example) and tftpd-hpa (`in.tftpd`, needs root for
# its chroot), in one run.
#
#   bash benches/tftp.sh                  # SIZE_MB=100 SMALL_MB=5 CONCURRENT=200
#   SIZE_MB=20 CONCURRENT=50 bash benches/tftp.sh
#
# Cases: one SIZE_MB file with curl at blksize 512, 1468, 8192 and 65464
# (curl has no windowsize: one block per ACK); windowsize 16 and 64 with
# our client (`tftp-get`) and with atftp (tftpd-hpa 5.2 does not know
# windowsize and runs those with a window of 1); CONCURRENT curls at once
# of a SMALL_MB file (blksize 1468). Each case runs REPEAT times (3),
# alternating the servers; the table has the median MB/s (10^6 bytes per
# second) per case and server, and for tftp-get the window granted. Every
# download's size is checked. CASES (default "curl get atftp concurrent")
# picks the groups to run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${SIZE_MB:-100}"
SMALL_MB="${SMALL_MB:-5}"
CONCURRENT="${CONCURRENT:-200}"
REPEAT="${REPEAT:-3}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example tftp-serve --example tftp-get
    cargo build --release -q -p netboot-server
fi
EX="$TARGET_DIR/release/examples"
for tool in curl atftp in.tftpd python3; do
    command -v "$tool" >/dev/null || { echo "benches/tftp.sh needs $tool" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "benches/tftp.sh needs root (in.tftpd chroots)" >&2; exit 1; }

WORK="$(mktemp -d)"
OURS_PID=""
HPA_PID=""
cleanup() {
    [ -n "$OURS_PID" ] && kill "$OURS_PID" 2>/dev/null
    [ -n "$HPA_PID" ] && kill "$HPA_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/root" "$WORK/out"
chmod 755 "$WORK" "$WORK/root"
head -c "$((SIZE_MB * 1000000))" /dev/urandom >"$WORK/root/big.bin"
head -c "$((SMALL_MB * 1000000))" /dev/urandom >"$WORK/root/small.bin"
chmod 644 "$WORK/root/"*.bin
BIG=$((SIZE_MB * 1000000))
SMALL=$((SMALL_MB * 1000000))

free_port() {
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Ours: windows up to 4 MiB (65464 x 64), so the 64-block cases are not
# shrunk; the default (64 KiB) suits clients with default socket buffers.
# SERVER=netboot (the default) runs the deployed netboot-server with only
# its TFTP side; SERVER=tftp-serve the example around the same library.
if [ "${SERVER:-netboot}" = netboot ]; then
    OURS_PORT="$(free_port)"
    "$TARGET_DIR/release/netboot-server" --images "$WORK/root" --server-ip 127.0.0.1 \
        --no-bsdp --no-http --tftp-listen "127.0.0.1:$OURS_PORT" --tftp-max-window-bytes 4194304 \
        --log-dir "$WORK/nblogs" --log-quiet --log-level warn >"$WORK/ours.banner" &
    OURS_PID=$!
    printf '{"listening": "127.0.0.1:%s"}\n' "$OURS_PORT" >"$WORK/ours.json"
    for _ in $(seq 1 100); do [ -s "$WORK/ours.banner" ] && break; sleep 0.1; done
else
    "$EX/tftp-serve" --root "$WORK/root" --listen "127.0.0.1:0" --max-window-bytes 4194304 \
        >"$WORK/ours.json" 2>"$WORK/ours.log" &
    OURS_PID=$!
fi
HPA_PORT="$(free_port)"
in.tftpd -L -a "127.0.0.1:$HPA_PORT" -s "$WORK/root" &
HPA_PID=$!
for _ in $(seq 1 100); do
    [ -s "$WORK/ours.json" ] && break
    sleep 0.1
done
OURS="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["listening"])' "$WORK/ours.json")"
HPA="127.0.0.1:$HPA_PORT"
sleep 0.3

mbps() { python3 -c 'import sys; print(f"{int(sys.argv[1]) / float(sys.argv[2]) / 1e6:.1f}")' "$1" "$2"; }
now() { date +%s.%N; }
elapsed() { python3 -c 'import sys; print(float(sys.argv[2]) - float(sys.argv[1]))' "$1" "$2"; }

check_size() {
    local got
    got="$(stat -c %s "$1")"
    [ "$got" = "$2" ] || { echo "$1: $got bytes, expected $2" >&2; exit 1; }
}

# curl one file: prints MB/s.
curl_case() {
    local server="$1" blksize="$2" out="$WORK/out/curl"
    rm -f "$out"
    local t
    t="$(curl -sS --max-time 600 --tftp-blksize "$blksize" -o "$out" -w '%{time_total}' "tftp://$server/big.bin")"
    check_size "$out" "$BIG"
    mbps "$BIG" "$t"
}

# Our client: prints MB/s and the window the server granted.
get_case() {
    local server="$1" blksize="$2" windowsize="$3" out="$WORK/out/get"
    rm -f "$out"
    "$EX/tftp-get" "tftp://$server/big.bin" --blksize "$blksize" --windowsize "$windowsize" \
        --tsize -o "$out" >"$WORK/get.json"
    check_size "$out" "$BIG"
    python3 -c 'import json, sys; o = json.load(open(sys.argv[1])); print("%.1f w%d" % (o["mb_per_s"], o["windowsize"]))' "$WORK/get.json"
}

atftp_case() {
    local server="$1" blksize="$2" windowsize="$3" out="$WORK/out/atftp"
    rm -f "$out"
    local t0 t1
    t0="$(now)"
    atftp --option "blksize $blksize" --option "windowsize $windowsize" \
        -g -r big.bin -l "$out" "${server%:*}" "${server#*:}" >/dev/null 2>&1
    t1="$(now)"
    check_size "$out" "$BIG"
    mbps "$BIG" "$(elapsed "$t0" "$t1")"
}

# CONCURRENT curls at once: aggregate MB/s over the wall time.
concurrent_case() {
    local server="$1" t0 t1 pids=()
    rm -f "$WORK/out/c."*
    t0="$(now)"
    for i in $(seq 1 "$CONCURRENT"); do
        curl -sS --max-time 600 --tftp-blksize 1468 -o "$WORK/out/c.$i" "tftp://$server/small.bin" &
        pids+=($!)
    done
    local failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
    t1="$(now)"
    [ "$failed" = 0 ] || { echo "$failed of $CONCURRENT curls failed against $server" >&2; exit 1; }
    for i in $(seq 1 "$CONCURRENT"); do check_size "$WORK/out/c.$i" "$SMALL"; done
    mbps "$((SMALL * CONCURRENT))" "$(elapsed "$t0" "$t1")"
}

row() { printf '| %-44s | %14s | %14s |\n' "$1" "$2" "$3"; }

# The median of "MBPS [wN]" lines, as "MBPS" or "MBPS (wN)".
median() {
    python3 -c '
import sys
runs = [l.split() for l in sys.stdin if l.strip()]
runs.sort(key=lambda r: float(r[0]))
m = runs[len(runs) // 2]
print(m[0] + (" (%s)" % m[1] if len(m) > 1 else ""))'
}

# case NAME FUNCTION ARGS...: REPEAT runs against each server, alternating.
case_row() {
    local name="$1" fn="$2"
    shift 2
    local ours="" hpa="" _
    for _ in $(seq 1 "$REPEAT"); do
        ours+="$("$fn" "$OURS" "$@")"$'\n'
        hpa+="$("$fn" "$HPA" "$@")"$'\n'
    done
    row "$name" "$(median <<<"$ours")" "$(median <<<"$hpa")"
}

echo "TFTP over loopback: a $SIZE_MB MB file (10^6 bytes), median MB/s of $REPEAT runs; $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores"
row "case" "ours" "tftpd-hpa"
row "---" "---" "---"
CASES=" ${CASES:-curl get atftp concurrent} "
if [[ "$CASES" == *" curl "* ]]; then
    for b in 512 1468 8192 65464; do
        case_row "curl, blksize $b" curl_case "$b"
    done
fi
if [[ "$CASES" == *" get "* ]]; then
    for bw in "1468 16" "8192 16" "65464 16" "1468 64" "65464 64"; do
        set -- $bw
        case_row "tftp-get, blksize $1 windowsize $2" get_case "$1" "$2"
    done
fi
if [[ "$CASES" == *" atftp "* ]]; then
    for bw in "1468 16" "1468 64"; do
        set -- $bw
        case_row "atftp, blksize $1 windowsize $2" atftp_case "$1" "$2"
    done
fi
if [[ "$CASES" == *" concurrent "* ]]; then
    case_row "$CONCURRENT x curl of $SMALL_MB MB at once, blksize 1468" concurrent_case
fi
echo
[ "${SERVER:-netboot}" = netboot ] && exit 0
echo "our server's counters:"
kill -INT "$OURS_PID"
wait "$OURS_PID" 2>/dev/null || true
OURS_PID=""
tail -n 1 "$WORK/ours.json"
grep -c "transfer finished" "$WORK/ours.log" | sed 's/^/transfers logged as finished: /'
