#!/usr/bin/env python3
"""An NTLM/SPNEGO peer backed by pyspnego (and pywinrm's message framing),
driven over stdin/stdout with one JSON object per line.

It gives tests an independent NTLM implementation to talk to: as the
acceptor (server) that checks a client's credentials, or as the initiator
(client). Start it with the Python that has `pyspnego` (and, for the
`winrm_*` operations, `pywinrm`) installed:

    NTLM_USER_FILE=/path/to/users python3 pyspnego_peer.py

The acceptor reads accounts from the file named by the environment variable
NTLM_USER_FILE, one per line: `DOMAIN:user:password` (pyspnego's own
format; the domain may be empty for a UPN: `:user@dns.domain:password`).

Protocol: each request is one line of JSON with an "op"; each answer is one
line of JSON, either {"ok": true, ...} or {"error": "<message>",
"error_type": "<exception class>"}. Byte strings are standard base64.
One bridge process holds one security context at a time; "server" or
"client" replaces it.

  {"op": "server", "protocol": "negotiate" | "ntlm",
   "channel_bindings": b64?}                      -> {"ok": true}
      A pyspnego acceptor (pure-Python NTLM, no GSSAPI/SSPI).
      channel_bindings is the application data of the
      gss_channel_bindings_struct, e.g. b"tls-server-end-point:" + hash.
  {"op": "client", "protocol": "negotiate" | "ntlm", "username": "DOM\\u",
   "password": "...", "hostname": "host", "service": "http",
   "channel_bindings": b64?}                      -> {"ok": true}
      A pyspnego initiator (pure-Python NTLM).
  {"op": "step", "token": b64 | null}             -> {"ok": true,
                                                      "token": b64 | null,
                                                      "complete": bool}
      Feeds the peer's token (null for a client's first step) and returns
      the next token to send, if any. A refused AUTHENTICATE is an error.
  {"op": "wrap", "data": b64}                     -> {"ok": true, "data": b64}
      GSS_Wrap with confidentiality: for NTLM the 16-byte signature followed
      by the sealed data.
  {"op": "unwrap", "data": b64}                   -> {"ok": true, "data": b64}
  {"op": "wrap_winrm", "data": b64}               -> {"ok": true, "header": b64,
                                                      "data": b64, "padding": n}
  {"op": "unwrap_winrm", "header": b64, "data": b64} -> {"ok": true, "data": b64}
  {"op": "sign", "data": b64}                     -> {"ok": true, "signature": b64}
  {"op": "verify", "data": b64, "signature": b64} -> {"ok": true}
  {"op": "winrm_encrypt", "data": b64}            -> {"ok": true,
                                                      "content_type": "...",
                                                      "body": b64}
      The SOAP message framed and sealed by pywinrm's
      winrm.encryption.Encryption (protocol "ntlm") over this context.
  {"op": "winrm_decrypt", "content_type": "...", "body": b64}
                                                  -> {"ok": true, "data": b64}
      pywinrm's parse_encrypted_response over this context.
  {"op": "session_key"}                           -> {"ok": true, "session_key": b64}
  {"op": "info"}                                  -> {"ok": true, "complete": bool,
                                                      "negotiated_protocol": str,
                                                      "client_principal": str | null}
  {"op": "quit"}                                  -> {"ok": true}, then exits.
"""

import base64
import json
import sys
import types


def b64(data):
    return None if data is None else base64.b64encode(data).decode("ascii")


def unb64(text):
    return None if text is None else base64.b64decode(text)


class Bridge:
    def __init__(self):
        self.ctx = None

    def bindings(self, req):
        from spnego.channel_bindings import GssChannelBindings

        data = unb64(req.get("channel_bindings"))
        return GssChannelBindings(application_data=data) if data is not None else None

    def op_server(self, req):
        import spnego

        self.ctx = spnego.server(
            protocol=req.get("protocol", "negotiate"),
            channel_bindings=self.bindings(req),
            options=spnego.NegotiateOptions.use_ntlm
            if req.get("protocol", "negotiate") == "ntlm"
            else spnego.NegotiateOptions.use_negotiate,
        )
        return {}

    def op_client(self, req):
        import spnego

        protocol = req.get("protocol", "negotiate")
        self.ctx = spnego.client(
            req["username"],
            req["password"],
            hostname=req.get("hostname", "unspecified"),
            service=req.get("service", "http"),
            channel_bindings=self.bindings(req),
            protocol=protocol,
            options=spnego.NegotiateOptions.use_ntlm
            if protocol == "ntlm"
            else spnego.NegotiateOptions.use_negotiate,
        )
        return {}

    def op_step(self, req):
        out = self.ctx.step(unb64(req.get("token")))
        return {"token": b64(out), "complete": bool(self.ctx.complete)}

    def op_wrap(self, req):
        return {"data": b64(self.ctx.wrap(unb64(req["data"]), encrypt=True).data)}

    def op_unwrap(self, req):
        return {"data": b64(self.ctx.unwrap(unb64(req["data"])).data)}

    def op_wrap_winrm(self, req):
        r = self.ctx.wrap_winrm(unb64(req["data"]))
        return {"header": b64(r.header), "data": b64(r.data), "padding": r.padding_length}

    def op_unwrap_winrm(self, req):
        return {"data": b64(self.ctx.unwrap_winrm(unb64(req["header"]), unb64(req["data"])))}

    def op_sign(self, req):
        return {"signature": b64(self.ctx.sign(unb64(req["data"])))}

    def op_verify(self, req):
        self.ctx.verify(unb64(req["data"]), unb64(req["signature"]))
        return {}

    def encryption(self):
        """pywinrm's Encryption over this context, as pywinrm's
        requests-ntlm/spnego auth would expose it."""
        from winrm.encryption import Encryption

        ctx = self.ctx

        class SessionSecurity:
            def wrap(self, message):
                r = ctx.wrap_winrm(message)
                return r.data, r.header

            def unwrap(self, message, signature):
                return ctx.unwrap_winrm(signature, message)

        session = types.SimpleNamespace(auth=types.SimpleNamespace(session_security=SessionSecurity()))
        return Encryption(session, "ntlm")

    def op_winrm_encrypt(self, req):
        import requests

        url = "http://provider.contoso.com:5985/wsman"
        prepared = self.encryption().prepare_encrypted_request(requests.Session(), url, unb64(req["data"]))
        return {"content_type": prepared.headers["Content-Type"], "body": b64(prepared.body)}

    def op_winrm_decrypt(self, req):
        response = types.SimpleNamespace(
            headers={"Content-Type": req["content_type"]},
            content=unb64(req["body"]),
            request=types.SimpleNamespace(url="http://provider.contoso.com:5985/wsman"),
        )
        return {"data": b64(self.encryption().parse_encrypted_response(response))}

    def op_session_key(self, req):
        return {"session_key": b64(self.ctx.session_key)}

    def op_info(self, req):
        principal = None
        try:
            principal = self.ctx.client_principal
        except Exception:
            pass
        return {
            "complete": bool(self.ctx.complete),
            "negotiated_protocol": self.ctx.negotiated_protocol,
            "client_principal": principal,
        }


def main():
    bridge = Bridge()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                print(json.dumps({"ok": True}), flush=True)
                return
            handler = getattr(bridge, "op_" + str(op), None)
            if handler is None:
                raise ValueError("unknown op %r" % op)
            if op not in ("server", "client") and bridge.ctx is None:
                raise ValueError("no context: send a server or client op first")
            answer = {"ok": True}
            answer.update(handler(req))
        except Exception as e:  # every failure is an answer, never a crash
            answer = {"error": str(e) or repr(e), "error_type": type(e).__name__}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
