#!/usr/bin/env bash
# Push throughput over ONE HTTP/2 connection, side by side with the peer's
# own limits: `apns-push --count N` against `nghttpd` (Debian package
# nghttp2-server) on loopback, TLS with the push certificate required as the
# client identity (nghttpd asks for a client certificate but does not verify
# it), answering every POST with 200 (`--echo-upload`).
#
#   bash benches/apns-push.sh            # COUNT=100000 by default
#
# Prints the client's summary line (pushes per second) and the CPU time the
# client used per push.
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT="${COUNT:-100000}"
PORT="${PORT:-18970}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
command -v nghttpd >/dev/null || { echo "nghttpd (Debian nghttp2-server) is needed" >&2; exit 1; }
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example apns-push
fi
WORK="$(mktemp -d)"
NGHTTPD_PID=""
trap '[ -n "$NGHTTPD_PID" ] && kill "$NGHTTPD_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
UUID=5c0f4d1e-77a2-4b43-9e0a-3f1d2c6b8a90
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
nghttpd --echo-upload --verify-client -a 127.0.0.1 -d "$WORK" \
    --max-concurrent-streams=1000 "$PORT" server.key server.pem >nghttpd.log 2>&1 &
NGHTTPD_PID=$!
sleep 0.5
echo "== apns-push --count $COUNT over one connection to nghttpd (client certificate requested)"
/usr/bin/time -f "client CPU: %U s user + %S s system, max RSS %M KiB" \
    "$TARGET_DIR/release/examples/apns-push" --cert push.pem --key push.key \
    --endpoint "https://127.0.0.1:$PORT" --ca ca.pem \
    --token 00000000000000000000000000000000000000000000000000000000000000ab \
    --push-magic 00000000-1111-2222-3333-444444444444 --count "$COUNT" 2>&1 \
    | tail -n 3
