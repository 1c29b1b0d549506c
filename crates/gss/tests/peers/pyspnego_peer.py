"""An independent GSS-API peer for the pippin-gss tests: pyspnego over
python-gssapi (MIT krb5), driven one JSON object per line on stdin, one
JSON answer per line on stdout.

    pyspnego_peer.py accept|initiate kerberos|negotiate [CHANNEL_BINDINGS_HEX]

The acceptor takes its keytab from KRB5_KTNAME, the initiator its tickets
from KRB5CCNAME. Requests: {"op": "step", "token": B64 | null},
{"op": "wrap" | "unwrap" | "sign" | "wrap_winrm", "data": B64},
{"op": "verify", "data": B64, "mic": B64},
{"op": "unwrap_winrm", "header": B64, "data": B64}. Any failure is
answered with {"error": TEXT}.
"""

import base64
import json
import sys

import spnego
from spnego.channel_bindings import GssChannelBindings


def enc(b):
    return base64.b64encode(b).decode() if b is not None else None


def dec(s):
    return base64.b64decode(s)


def main():
    role, protocol = sys.argv[1], sys.argv[2]
    cbt = None
    if len(sys.argv) > 3:
        cbt = GssChannelBindings(application_data=bytes.fromhex(sys.argv[3]))
    # "kerberos" is python-gssapi straight over MIT krb5; "negotiate" is
    # pyspnego's own SPNEGO around it.
    if protocol == "kerberos":
        options = spnego.NegotiateOptions.use_gssapi
    else:
        options = spnego.NegotiateOptions.none
    if role == "accept":
        ctx = spnego.server(
            hostname="localhost", service="HTTP", protocol=protocol, options=options, channel_bindings=cbt
        )
    else:
        ctx = spnego.client(
            hostname="localhost",
            service="HTTP",
            protocol=protocol,
            options=options,
            channel_bindings=cbt,
            context_req=spnego.ContextReq.mutual_auth
            | spnego.ContextReq.sequence_detect
            | spnego.ContextReq.confidentiality
            | spnego.ContextReq.integrity,
        )
    for line in sys.stdin:
        req = json.loads(line)
        op = req["op"]
        try:
            if op == "step":
                token = dec(req["token"]) if req.get("token") else None
                out = ctx.step(token)
                resp = {"token": enc(out), "complete": ctx.complete}
                if ctx.complete and role == "accept":
                    resp["client"] = ctx.client_principal
            elif op == "wrap":
                resp = {"data": enc(ctx.wrap(dec(req["data"]), encrypt=True).data)}
            elif op == "unwrap":
                r = ctx.unwrap(dec(req["data"]))
                resp = {"data": enc(r.data), "encrypted": r.encrypted}
            elif op == "sign":
                resp = {"mic": enc(ctx.sign(dec(req["data"])))}
            elif op == "verify":
                ctx.verify(dec(req["data"]), dec(req["mic"]))
                resp = {"ok": True}
            elif op == "wrap_winrm":
                r = ctx.wrap_winrm(dec(req["data"]))
                resp = {"header": enc(r.header), "data": enc(r.data), "padding": r.padding_length}
            elif op == "unwrap_winrm":
                resp = {"data": enc(ctx.unwrap_winrm(dec(req["header"]), dec(req["data"])))}
            else:
                resp = {"error": "unknown op " + op}
        except Exception as e:  # every failure goes back to the test
            resp = {"error": "%s: %s" % (type(e).__name__, e)}
        print(json.dumps(resp), flush=True)


if __name__ == "__main__":
    main()
