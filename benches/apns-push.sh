#!/usr/bin/env bash
# Push throughput over ONE HTTP/2 connection, side by side with the peer's
# own limits: `apns-push --count N` against `nghttpd` (Debian package
# nghttp2-server) on loopback, TLS with the push certificate required as the
# client identity (nghttpd asks for a client certificate but does not verify
# it), answering every POST with 200 (`--echo-upload`; NO_ECHO=1 makes it
# answer at once, without reading uploads into its echo buffers).
#
# Then, side by side, the same pushes (same path, headers and body, same
# 1,000 streams in flight over one connection) from `h2load` (Debian package
# nghttp2-client, nghttp2's C load generator) to the same kind of nghttpd
# (without the client-certificate request: h2load cannot present one).
#
#   bash benches/apns-push.sh            # COUNT=100000 by default
#
# Prints each client's pushes per second and the CPU time it used.
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
ECHO_FLAG="--echo-upload"
[ -n "${NO_ECHO:-}" ] && ECHO_FLAG=""
nghttpd $ECHO_FLAG --verify-client -a 127.0.0.1 -d "$WORK" \
    --max-concurrent-streams=1000 "$PORT" server.key server.pem >nghttpd.log 2>&1 &
NGHTTPD_PID=$!
sleep 0.5
echo "== apns-push --count $COUNT over one connection to nghttpd (client certificate requested)"
/usr/bin/time -f "client CPU: %U s user + %S s system, max RSS %M KiB" \
    "$TARGET_DIR/release/examples/apns-push" --cert push.pem --key push.key \
    --endpoint "https://127.0.0.1:$PORT" --ca ca.pem \
    --token 00000000000000000000000000000000000000000000000000000000000000ab \
    --push-magic 00000000-1111-2222-3333-444444444444 --count "$COUNT" 2>&1 \
    | tail -n 3 || true
if command -v h2load >/dev/null; then
    PORT2=$((PORT + 1))
    nghttpd $ECHO_FLAG -a 127.0.0.1 -d "$WORK" --max-concurrent-streams=1000 \
        "$PORT2" server.key server.pem >nghttpd2.log 2>&1 &
    NGHTTPD2_PID=$!
    trap '[ -n "$NGHTTPD_PID" ] && kill "$NGHTTPD_PID" 2>/dev/null; kill "$NGHTTPD2_PID" 2>/dev/null; rm -rf "$WORK"' EXIT
    sleep 0.5
    printf '{"mdm":"00000000-1111-2222-3333-444444444444"}' >body.json
    echo "== h2load: the same $COUNT pushes over one connection, 1000 streams in flight"
    /usr/bin/time -f "h2load CPU: %U s user + %S s system, max RSS %M KiB" \
        h2load -n "$COUNT" -c 1 -m 1000 -d body.json \
        -H 'apns-push-type: mdm' -H "apns-topic: com.apple.mgmt.External.$UUID" \
        -H 'apns-priority: 10' -H 'content-type: application/json' \
        "https://127.0.0.1:$PORT2/3/device/00000000000000000000000000000000000000000000000000000000000000ab" 2>&1 \
        | grep -E '^(finished in|requests:|status codes:)|CPU' || true
else
    echo "(h2load, from Debian's nghttp2-client, is not installed: no side-by-side run)"
fi
