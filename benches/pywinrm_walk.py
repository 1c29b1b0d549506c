#!/usr/bin/env python3
"""Walks every instance of a WMI class over WS-Management with pywinrm
(NTLM, message encryption always on), the way a Python WinRM client would:
Enumerate with OptimizeEnumeration, then Pull until EndOfSequence. Prints
one JSON line: rows, batches, seconds, rows per second, peak RSS in MiB.

    python3 benches/pywinrm_walk.py URL 'DOMAIN\\user' PASSWORD SITE CLASS MAX_ELEMENTS
"""

import json
import resource
import sys
import time
import uuid
import xml.etree.ElementTree as ET

import winrm.protocol

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "n": "http://schemas.xmlsoap.org/ws/2004/09/enumeration",
    "w": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
}
ENUMERATE = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
PULL = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull"


def envelope(url, resource_uri, action, body):
    return f"""<s:Envelope xmlns:s="{NS['s']}" xmlns:a="{NS['a']}" xmlns:n="{NS['n']}" xmlns:w="{NS['w']}">
<s:Header><a:To>{url}</a:To><w:ResourceURI s:mustUnderstand="true">{resource_uri}</w:ResourceURI>
<a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>
<a:Action s:mustUnderstand="true">{action}</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize>
<a:MessageID>uuid:{uuid.uuid4()}</a:MessageID><w:OperationTimeout>PT60S</w:OperationTimeout></s:Header>
<s:Body>{body}</s:Body></s:Envelope>"""


def items_of(root):
    for path in ("s:Body/n:EnumerateResponse/w:Items", "s:Body/n:PullResponse/n:Items"):
        found = root.find(path, NS)
        if found is not None:
            return list(found)
    return []


def main():
    url, user, password, site, cls, max_elements = sys.argv[1:7]
    resource_uri = f"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/sms/site_{site}/{cls}"
    p = winrm.protocol.Protocol(url, transport="ntlm", username=user, password=password,
                                message_encryption="always")
    start = time.monotonic()
    body = (f"<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>{max_elements}</w:MaxElements>"
            "</n:Enumerate>")
    root = ET.fromstring(p.send_message(envelope(url, resource_uri, ENUMERATE, body)))
    rows, batches = 0, 1
    names = set()
    while True:
        for item in items_of(root):
            rows += 1
            for prop in item:
                if prop.tag.endswith("}ResourceId"):
                    names.add(prop.text)
        ctx = root.find("s:Body/*/n:EnumerationContext", NS)
        eos = root.find("s:Body/*/n:EndOfSequence", NS)
        if eos is None:
            eos = root.find("s:Body/*/w:EndOfSequence", NS)
        if eos is not None or ctx is None:
            break
        body = (f"<n:Pull><n:EnumerationContext>{ctx.text}</n:EnumerationContext>"
                f"<n:MaxElements>{max_elements}</n:MaxElements></n:Pull>")
        root = ET.fromstring(p.send_message(envelope(url, resource_uri, PULL, body)))
        batches += 1
    seconds = time.monotonic() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"client": "pywinrm", "rows": rows, "unique": len(names), "batches": batches,
                      "seconds": round(seconds, 2), "rows_per_second": round(rows / seconds),
                      "peak_rss_mib": round(peak, 1)}))


if __name__ == "__main__":
    main()
