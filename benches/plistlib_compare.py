#!/usr/bin/env python3
"""Times Python's plistlib on the same fixtures the `mdm` criterion bench
decodes, so the two can be compared on one machine in one run.

Prints one line per file: name, bytes, microseconds per decode, decodes/s.
Usage: python3 benches/plistlib_compare.py [SECONDS_PER_FILE]
"""
import os
import plistlib
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "crates", "apple-mdm-protocol", "tests", "fixtures")
FILES = [
    "checkin-tokenupdate-device.xml",
    "checkin-tokenupdate-device.binary.plist",
    "report-deviceinformation-large.xml",
    "report-deviceinformation-large.binary.plist",
]


def main():
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    print(f"python {sys.version.split()[0]} plistlib.loads, {budget:.1f}s per file")
    for name in FILES:
        with open(os.path.join(FIXTURES, name), "rb") as f:
            data = f.read()
        n = 0
        start = time.perf_counter()
        deadline = start + budget
        while True:
            for _ in range(100):
                plistlib.loads(data)
            n += 100
            now = time.perf_counter()
            if now >= deadline:
                break
        per = (now - start) / n
        print(f"{name:48} {len(data):7} B {per * 1e6:10.2f} us {1 / per:12.0f} /s")


if __name__ == "__main__":
    main()
