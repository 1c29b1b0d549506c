#!/usr/bin/env bash
# A PRODUCTS-product Apple software-update catalog, side by side, in one
# run on the same generated files (catalog as plain XML and gzip, one
# English distribution file per product):
#
#   - ours, whole: `sucatalog-to-sdp` (release example) from catalog and
#     distributions to an Authenticode-signed WSUS catalog cabinet
#     (RSA-2048 certificate made here with openssl);
#   - ours, parse: `sucatalog-list --dist-dir` (release example), the
#     catalog and every distribution read, one JSON line per product to
#     /dev/null;
#   - Python, reposado-style parse (benches/reposado_parse.py): plistlib,
#     then every product's English .dist through minidom and its .strings
#     through a regular expression, as reposado's repo_sync reads them.
#
#   bash benches/sucatalog.sh                  # PRODUCTS=5000 REPEAT=3
#   SKIP_BUILD=1 PIPPIN_PYTHON=python3.12 bash benches/sucatalog.sh
#
# Each case runs REPEAT times under GNU time (`/usr/bin/time -v`; Debian:
# `apt-get install -y time`); the table has the median wall time, its
# CPU time (user + system) and peak RSS. Run it when `uptime` shows the
# machine idle: wall times move with the load, CPU times much less.
set -euo pipefail
cd "$(dirname "$0")/.."
PRODUCTS="${PRODUCTS:-5000}"
REPEAT="${REPEAT:-3}"
PYTHON="${PIPPIN_PYTHON:-python3}"
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release -q -p pippin-examples --example sucatalog-to-sdp --example sucatalog-list
fi
EX="$TARGET_DIR/release/examples"
[ -x /usr/bin/time ] || { echo "benches/sucatalog.sh needs GNU time (/usr/bin/time; apt-get install -y time)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "benches/sucatalog.sh needs openssl" >&2; exit 1; }

WORK="$(mktemp -d)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

GEN=crates/wsus-publish/tests/gen_sucatalog.py
"$PYTHON" "$GEN" --products "$PRODUCTS" --seed 1 --out "$WORK/catalog.sucatalog" --dist-dir "$WORK/dists"
"$PYTHON" "$GEN" --products "$PRODUCTS" --seed 1 --out "$WORK/catalog.sucatalog.gz" --gzip
openssl req -x509 -nodes -newkey rsa:2048 -days 2 -subj "/CN=Pippin bench publisher" \
    -addext extendedKeyUsage=codeSigning -addext keyUsage=digitalSignature \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null

# timed OUT CMD...: runs CMD under GNU time with its standard output in
# OUT; prints "wall_seconds cpu_seconds max_rss_kib".
timed() {
    local out="$1"
    shift
    /usr/bin/time -v -o "$WORK/time" "$@" >"$out" 2>"$WORK/stderr" || {
        cat "$WORK/stderr" >&2
        exit 1
    }
    "$PYTHON" - "$WORK/time" <<'EOF'
import sys
v = {}
for line in open(sys.argv[1]):
    k, _, val = line.strip().rpartition(": ")
    v[k] = val
wall = 0.0
for part in v["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
    wall = wall * 60 + float(part)
cpu = float(v["User time (seconds)"]) + float(v["System time (seconds)"])
print("%.3f %.3f %s" % (wall, cpu, v["Maximum resident set size (kbytes)"]))
EOF
}

# check OUT KIND: the run's output is what the case should produce.
check() {
    "$PYTHON" - "$1" "$2" <<'EOF'
import json, sys
path, kind = sys.argv[1], sys.argv[2]
if kind == "sdp":
    o = json.load(open(path))
    assert o["signed"] and o["packages_written"] > 0 and o["without_distribution"] == 0, o
elif kind == "list":
    lines = [json.loads(l) for l in open(path)]
    assert lines and all(l["title"] for l in lines), len(lines)
else:
    o = json.load(open(path))
    assert o["products"] > 0 and o["with_distribution"] == o["products"], o
EOF
}

row() { printf '| %-58s | %9s | %8s | %12s |\n' "$@"; }

# case NAME KIND CMD...: REPEAT runs; one row with the median wall time's run.
case_row() {
    local name="$1" kind="$2" runs=""
    shift 2
    # The listing goes to /dev/null while timed; it is checked once, untimed.
    if [ "$kind" = list ]; then
        "$@" >"$WORK/out"
        check "$WORK/out" list
    fi
    for _ in $(seq 1 "$REPEAT"); do
        if [ "$kind" = list ]; then
            runs+="$(timed /dev/null "$@")"$'\n'
        else
            runs+="$(timed "$WORK/out" "$@")"$'\n'
            check "$WORK/out" "$kind"
        fi
    done
    read -r wall cpu kib <<<"$(sort -n <<<"${runs%$'\n'}" | sed -n "$(((REPEAT + 1) / 2))p")"
    row "$name" "$wall" "$cpu" "$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')"
}

SIGN=(--sign-cert "$WORK/cert.pem" --sign-key "$WORK/key.pem")
echo "Catalog of $PRODUCTS products ($(stat -c %s "$WORK/catalog.sucatalog") bytes, gzip $(stat -c %s "$WORK/catalog.sucatalog.gz")), $(ls "$WORK/dists" | wc -l) distribution files ($(find "$WORK/dists" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }') bytes)"
echo "median of $REPEAT runs; $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $("$PYTHON" -V 2>&1)"
row "case" "wall s" "CPU s" "max RSS MiB"
row "---" "---:" "---:" "---:"
for form in xml gzip; do
    cat="$WORK/catalog.sucatalog"
    [ "$form" = gzip ] && cat="$WORK/catalog.sucatalog.gz"
    case_row "sucatalog-to-sdp, $form catalog + dists -> signed cab" sdp \
        "$EX/sucatalog-to-sdp" --catalog "$cat" --dist-dir "$WORK/dists" --out "$WORK/catalog.cab" "${SIGN[@]}"
    case_row "sucatalog-list, $form catalog + dists (parse only)" list \
        "$EX/sucatalog-list" --catalog "$cat" --dist-dir "$WORK/dists"
    case_row "Python reposado-style parse, $form catalog + dists" py \
        "$PYTHON" benches/reposado_parse.py "$cat" "$WORK/dists"
done
echo
echo "sucatalog-to-sdp summary (xml catalog):"
"$EX/sucatalog-to-sdp" --catalog "$WORK/catalog.sucatalog" --dist-dir "$WORK/dists" --out "$WORK/catalog.cab" "${SIGN[@]}" 2>/dev/null
