#!/usr/bin/env bash
# Side by side, in one run on one machine: Pippin's decoder (criterion bench
# `mdm`, group `decode`) and Python's plistlib on the same files.
#   bash benches/compare-plist-decode.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== pippin (criterion, decode group)"
cargo bench -p pippin-benches --bench mdm -- decode/ --warm-up-time 1 --measurement-time 3 2>/dev/null \
    | grep -E '^decode/|time:|thrpt:'
echo
echo "== python plistlib"
python3 benches/plistlib_compare.py 3
