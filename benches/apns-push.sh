#!/usr/bin/env bash
# Push throughput over ONE HTTP/2 connection: `apns-push --count N` (release
# build) against `nghttpd` (Debian package nghttp2-server) on loopback, TLS
# with the push certificate as the client identity (nghttpd asks for a client
# certificate but does not verify it), at most 1,000 pushes in flight.
#
# The peer answers every push with 200. MODE picks how:
#   MODE=file (default)  nghttpd serves a document root in which the push's
#                        path, /3/device/<token>, is an empty file: a 200
#                        with no body, the request body read and dropped.
#   MODE=echo            nghttpd --echo-upload: a 200 whose body is the
#                        request body (nghttpd buffers each upload first).
#
# Then, side by side, the same pushes (same path, headers and body, same
# 1,000 streams in flight over one connection) from `h2load` (Debian
# package nghttp2-client, nghttp2's C load generator) to another nghttpd in
# the same mode (without the client-certificate request: h2load cannot
# present one).
#
#   bash benches/apns-push.sh                 # COUNT=100000, MODE=file
#   COUNT=20000 MODE=echo bash benches/apns-push.sh
#
# Prints, for each client: pushes, wall time, pushes per second, the
# client's CPU time per push (user + system, from /usr/bin/time) and the
# server's (from /proc). Fails (non-zero) when a run fails or apns-push does
# not report every push delivered.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-100000}"
PORT="${PORT:-18970}"
MODE="${MODE:-file}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v nghttpd >/dev/null || { echo "nghttpd (Debian nghttp2-server) is needed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time (Debian time) is needed" >&2; exit 1; }
case "$MODE" in
    file) SERVE=() ;;
    echo) SERVE=(--echo-upload) ;;
    *) echo "MODE is file or echo, not $MODE" >&2; exit 2 ;;
esac
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example apns-push
fi
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
UUID=5c0f4d1e-77a2-4b43-9e0a-3f1d2c6b8a90
TOKEN=00000000000000000000000000000000000000000000000000000000000000ab
MAGIC=00000000-1111-2222-3333-444444444444
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=Bench APNs CA" -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 \
    -extfile server.ext -out server.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
    -subj "/UID=com.apple.mgmt.External.$UUID/CN=APSP:$UUID" -keyout push.key -out push.pem 2>/dev/null
mkdir -p htdocs/3/device
: >"htdocs/3/device/$TOKEN"

# The CPU time (user + system, seconds) a process has used so far.
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$1/stat"
}

start_nghttpd() { # PORT [more options]: starts it, sets NGHTTPD_PID
    local port="$1"
    shift
    nghttpd "${SERVE[@]}" "$@" -a 127.0.0.1 -d "$WORK/htdocs" --max-concurrent-streams=1000 \
        "$port" server.key server.pem >"nghttpd-$port.log" 2>&1 &
    NGHTTPD_PID=$!
    PIDS+=("$NGHTTPD_PID")
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    echo "nghttpd did not start on port $port" >&2
    exit 1
}

echo "== $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== apns-push --count $COUNT over one connection to nghttpd (MODE=$MODE, client certificate requested)"
start_nghttpd "$PORT" --verify-client
server_before="$(cpu_of "$NGHTTPD_PID")"
/usr/bin/time -f "%e %U %S %M" -o time.txt \
    "$TARGET_DIR/release/examples/apns-push" --cert push.pem --key push.key \
    --endpoint "https://127.0.0.1:$PORT" --ca ca.pem --token "$TOKEN" \
    --push-magic "$MAGIC" --count "$COUNT" >pushes.jsonl
server_after="$(cpu_of "$NGHTTPD_PID")"
python3 - "$COUNT" pushes.jsonl time.txt "$server_before" "$server_after" <<'EOF'
import json, sys
count = int(sys.argv[1])
with open(sys.argv[2]) as f:
    lines = f.read().splitlines()
summary = json.loads(lines[-1])
wall, user, system, rss = open(sys.argv[3]).read().split()
server = float(sys.argv[5]) - float(sys.argv[4])
ok = summary.get("summary") and summary["pushes"] == count and summary["delivered"] == count
if not ok or len(lines) != count + 1:
    sys.exit(f"apns-push did not deliver every push: {summary}")
cpu = float(user) + float(system)
print(f"apns-push: {count} pushes delivered in {summary['seconds']:.2f} s = "
      f"{summary['pushes_per_second']:,.0f} pushes/s; client CPU {user} s user + {system} s "
      f"system = {cpu / count * 1e6:.1f} us/push (max RSS {int(rss) // 1024} MiB); "
      f"nghttpd CPU {server:.2f} s = {server / count * 1e6:.1f} us/push")
EOF

if command -v h2load >/dev/null; then
    PORT2=$((PORT + 1))
    start_nghttpd "$PORT2"
    printf '{"mdm":"%s"}' "$MAGIC" >body.json
    echo "== h2load: the same $COUNT pushes over one connection, 1000 streams in flight"
    server_before="$(cpu_of "$NGHTTPD_PID")"
    /usr/bin/time -f "%e %U %S %M" -o time2.txt \
        h2load -n "$COUNT" -c 1 -m 1000 -d body.json \
        -H 'apns-push-type: mdm' -H "apns-topic: com.apple.mgmt.External.$UUID" \
        -H 'apns-priority: 10' -H 'content-type: application/json' \
        "https://127.0.0.1:$PORT2/3/device/$TOKEN" >h2load.txt
    server_after="$(cpu_of "$NGHTTPD_PID")"
    python3 - "$COUNT" h2load.txt time2.txt "$server_before" "$server_after" <<'EOF'
import re, sys
count = int(sys.argv[1])
text = open(sys.argv[2]).read()
finished = re.search(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s", text)
codes = re.search(r"status codes: (\d+) 2xx", text)
if not finished or not codes or int(codes.group(1)) != count:
    sys.exit("h2load did not get a 2xx for every push:\n" + text)
seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
wall, user, system, rss = open(sys.argv[3]).read().split()
server = float(sys.argv[5]) - float(sys.argv[4])
cpu = float(user) + float(system)
print(f"h2load: {count} pushes answered 2xx in {seconds:.2f} s = {float(finished.group(3)):,.0f} "
      f"pushes/s; client CPU {user} s user + {system} s system = {cpu / count * 1e6:.1f} us/push; "
      f"nghttpd CPU {server:.2f} s = {server / count * 1e6:.1f} us/push")
EOF
else
    echo "(h2load, from Debian's nghttp2-client, is not installed: no side-by-side run)"
fi
