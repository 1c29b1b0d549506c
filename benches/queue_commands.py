#!/usr/bin/env python3
"""Queues N commands for every enrolled device through the admin API, over
one kept-alive HTTPS connection per worker thread (stdlib only).

usage: queue_commands.py BASE_URL CA_PEM TOKEN N [REQUEST_TYPE]
Prints: devices, commands queued, seconds, requests/s.
"""
import http.client
import json
import ssl
import sys
import threading
import time
import urllib.parse


def conn(base, ctx):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)


def main():
    base, ca, token, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    rtype = sys.argv[5] if len(sys.argv) > 5 else "DeviceInformation"
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    c = conn(base, ctx)
    udids, after = [], None
    while True:
        q = "/api/v1/devices?limit=1000&enrolled=true" + (f"&after={urllib.parse.quote(after)}" if after else "")
        c.request("GET", q, headers=hdr)
        page = json.loads(c.getresponse().read())
        udids += [d["udid"] for d in page["devices"] if d["channel"] == "device"]
        after = page["next"]
        if not after:
            break
    jobs = [u for u in udids for _ in range(n)]
    errors = []
    start = time.perf_counter()

    def worker(part):
        w = conn(base, ctx)
        body = json.dumps({"request_type": rtype})
        for u in part:
            w.request("POST", f"/api/v1/devices/{u}/commands", body=body, headers=hdr)
            r = w.getresponse()
            r.read()
            if r.status != 201:
                errors.append(r.status)

    threads = [threading.Thread(target=worker, args=(jobs[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - start
    if errors:
        sys.exit(f"{len(errors)} queue requests failed, e.g. HTTP {errors[0]}")
    print(f"queued {len(jobs)} commands for {len(udids)} devices in {secs:.1f}s ({len(jobs) / secs:.0f}/s)")


if __name__ == "__main__":
    main()
