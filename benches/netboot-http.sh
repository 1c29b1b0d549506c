#!/usr/bin/env bash
# NetBoot disk images over HTTP: `netboot-server` (release build, HTTP only)
# next to nginx serving the same folder, on loopback, in one run.
#
#   bash benches/netboot-http.sh              # SIZE_MB=1024 RANGES=20000 CONNS=32
#
# Three cases against each server:
#   1. one whole image with curl (best of 3, MB/s);
#   2. RANGES requests of 64 KiB ranges (what a Mac's firmware does while
#      it boots from the image) with `h2load --h1`, CONNS connections;
#   3. CONNS concurrent whole downloads of a 64 MB image with h2load.
# Needs curl, nginx (Debian `nginx` or `nginx-light`) and h2load
# (`nghttp2-client`).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB="${SIZE_MB:-1024}"
RANGES="${RANGES:-20000}"
CONNS="${CONNS:-32}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
for tool in curl nginx h2load; do
    command -v "$tool" >/dev/null || { echo "netboot-http.sh needs $tool" >&2; exit 1; }
done
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p netboot-server
fi
BIN="$TARGET_DIR/release/netboot-server"
WORK="$(mktemp -d)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

IMG="$WORK/images/Bench.nbi"
mkdir -p "$IMG/i386"
head -c 100000 /dev/urandom >"$IMG/i386/booter"
head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$IMG/Bench.dmg"
head -c $((64 * 1024 * 1024)) /dev/urandom >"$IMG/Small.dmg"
cat >"$IMG/NBImageInfo.plist" <<'EOF'
<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>Index</key><integer>1</integer><key>Name</key><string>Bench</string>
<key>Type</key><string>HTTP</string><key>BootFile</key><string>booter</string>
<key>RootPath</key><string>Bench.dmg</string><key>IsEnabled</key><true/>
</dict></plist>
EOF
chmod -R a+rX "$WORK/images"

OURS="$(free_port)"
"$BIN" --images "$WORK/images" --server-ip 127.0.0.1 --no-bsdp --no-tftp \
    --http-listen "127.0.0.1:$OURS" --log-dir "$WORK/logs" --log-quiet --log-level warn >/dev/null &
PIDS+=($!)

NGINX="$(free_port)"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 2;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $WORK/nginx;
    proxy_temp_path $WORK/nginx;
    fastcgi_temp_path $WORK/nginx;
    uwsgi_temp_path $WORK/nginx;
    scgi_temp_path $WORK/nginx;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGINX;
        location /nbi/ { alias $WORK/images/; }
    }
}
EOF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" &
PIDS+=($!)

for port in "$OURS" "$NGINX"; do
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/nbi/Bench.nbi/i386/booter" && break
        sleep 0.1
    done
done
# Warm the page cache.
cat "$IMG/Bench.dmg" "$IMG/Small.dmg" >/dev/null

whole() {
    local port=$1 best=0
    for _ in 1 2 3; do
        local bps
        bps=$(curl -sf -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/nbi/Bench.nbi/Bench.dmg")
        best=$(python3 -c "print(max($best, $bps))")
    done
    python3 -c "print(f'{$best / 1e6:,.0f} MB/s')"
}

h2() {
    # h2load's summary: requests per second and bytes per second.
    h2load --h1 "$@" 2>&1 | awk '
        /^finished in/ { rps=$4; mbs=$6 }
        /^requests:/ { ok=$8; failed=$10 }
        END { printf "%s req/s, %s (succeeded %s, failed %s)\n", rps, mbs, ok, failed }'
}

echo "== one whole ${SIZE_MB} MiB image with curl (best of 3)"
printf '%-16s %s\n' "netboot-server" "$(whole "$OURS")"
printf '%-16s %s\n' "nginx" "$(whole "$NGINX")"

echo "== $RANGES range requests of 64 KiB, $CONNS connections (h2load --h1)"
RANGE="Range: bytes=1048576-1114111"
printf '%-16s %s\n' "netboot-server" "$(h2 -n "$RANGES" -c "$CONNS" -H "$RANGE" "http://127.0.0.1:$OURS/nbi/Bench.nbi/Bench.dmg")"
printf '%-16s %s\n' "nginx" "$(h2 -n "$RANGES" -c "$CONNS" -H "$RANGE" "http://127.0.0.1:$NGINX/nbi/Bench.nbi/Bench.dmg")"

echo "== $CONNS concurrent whole downloads of a 64 MiB image (h2load --h1)"
printf '%-16s %s\n' "netboot-server" "$(h2 -n "$CONNS" -c "$CONNS" "http://127.0.0.1:$OURS/nbi/Bench.nbi/Small.dmg")"
printf '%-16s %s\n' "nginx" "$(h2 -n "$CONNS" -c "$CONNS" "http://127.0.0.1:$NGINX/nbi/Bench.nbi/Small.dmg")"
