#!/usr/bin/env python3
"""A stand-in for a Cisco libest EST client (the C library inside many
device SDKs), doing what libest's client was measured doing against estrad
(issue 15, section 2). It is not libest: Debian does not ship libest, so
this reproduces its observable behaviour on the wire:

  - TLS 1.2 at most; one request per connection (Connection: close);
  - reads only the FIRST WWW-Authenticate header and knows only Digest
    MD5 with qop "auth": anything else and it gives up;
  - its Digest answer carries uri="/.well-known/est/OP" even when the
    request line holds /.well-known/est/LABEL/OP;
  - simplereenroll with the leaf certificate only (give it a file holding
    just the leaf; this client never sends more than --cert holds);
  - needs the exact Content-Type and a Content-Length equal to the body;
    Retry-After must be delta-seconds;
  - a connection closed without TLS close_notify is an error with
    --close-notify require, a note on stderr with "report" (the default).

usage: libest_client.py --url https://HOST:PORT/.well-known/est[/LABEL]
         --cafile ROOT --op cacerts|simpleenroll|simplereenroll
         [--csr FILE(base64 DER)] [--user U --password-file F]
         [--cert LEAF --key KEY] [--out FILE] [--close-notify report|require]
Exit: 0 success, 1 failure (one line on stderr), 3 pending (202; the
Retry-After seconds on stdout).
"""
import argparse
import base64
import hashlib
import os
import re
import socket
import ssl
import sys
import urllib.parse

PKCS7 = "application/pkcs7-mime"
ENROLL_TYPE = "application/pkcs7-mime; smime-type=certs-only"


class GiveUp(Exception):
    pass


def tls_context(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(args.cafile)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    return ctx


def exchange(args, url, method, path, headers, body):
    """One request on a fresh TLS connection; (status, headers, body)."""
    ctx = tls_context(args)
    raw = socket.create_connection((url.hostname, url.port), timeout=15)
    # suppress_ragged_eofs=False: an EOF without close_notify raises.
    tls = ctx.wrap_socket(raw, server_hostname=url.hostname,
                          suppress_ragged_eofs=False)
    try:
        lines = ["%s %s HTTP/1.1" % (method, path),
                 "Host: %s:%d" % (url.hostname, url.port),
                 "User-Agent: libest-standin",
                 "Accept: */*",
                 "Connection: close"] + headers
        if body is not None:
            lines.append("Content-Length: %d" % len(body))
        tls.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() +
                    (body or b""))
        data = b""
        while True:
            try:
                chunk = tls.recv(65536)
            except ssl.SSLEOFError:
                if args.close_notify == "require":
                    raise GiveUp("connection closed without TLS "
                                 "close_notify")
                sys.stderr.write("note: connection closed without TLS "
                                 "close_notify\n")
                break
            if not chunk:
                break
            data += chunk
    finally:
        tls.close()
    return parse_response(data)


def parse_response(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise GiveUp("no complete HTTP header")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    if not m:
        raise GiveUp("bad status line %r" % lines[0])
    headers = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            raise GiveUp("bad header line %r" % line)
        headers.append((name, value.strip()))
    headers.append((":phrase", lines[0][len(m.group(0)):].strip()))
    # libest takes the body by Content-Length and nothing else.
    lengths = [v for n, v in headers if n == "Content-Length"]
    if len(lengths) != 1 or not lengths[0].isdigit():
        raise GiveUp("no exact Content-Length header: %r" % headers)
    if int(lengths[0]) != len(body):
        raise GiveUp("Content-Length %s but %d body bytes"
                     % (lengths[0], len(body)))
    return int(m.group(1)), headers, body


def first(headers, name):
    for n, v in headers:
        if n == name:
            return v
    return None


def auth_params(challenge):
    """Digest auth-params, quoted or not."""
    params = {}
    for m in re.finditer(r'([A-Za-z-]+)=("((?:[^"\\]|\\.)*)"|[^,\s]*)',
                         challenge):
        params[m.group(1).lower()] = (m.group(3) if m.group(3) is not None
                                      else m.group(2))
    return params


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def digest_answer(args, headers, method, op):
    """The Authorization value for the first challenge, libest's way."""
    challenge = first(headers, "WWW-Authenticate")
    if challenge is None or not challenge.startswith("Digest "):
        raise GiveUp("first WWW-Authenticate is not Digest: %r" % challenge)
    p = auth_params(challenge[len("Digest "):])
    if p.get("algorithm", "MD5").upper() != "MD5":
        raise GiveUp("first challenge is not MD5 (algorithm=%s): libest "
                     "knows only MD5" % p.get("algorithm"))
    if "auth" not in p.get("qop", "").split(","):
        raise GiveUp("first challenge does not offer qop auth")
    with open(args.password_file) as f:
        password = f.read().rstrip("\n")
    uri = "/.well-known/est/" + op          # never the label
    cnonce = os.urandom(8).hex()
    ha1 = md5("%s:%s:%s" % (args.user, p["realm"], password))
    ha2 = md5("%s:%s" % (method, uri))
    resp = md5("%s:%s:00000001:%s:auth:%s" % (ha1, p["nonce"], cnonce, ha2))
    value = ('Digest username="%s", realm="%s", nonce="%s", uri="%s", '
             'cnonce="%s", nc=00000001, qop="auth", response="%s"'
             % (args.user, p["realm"], p["nonce"], uri, cnonce, resp))
    if "opaque" in p:
        value += ', opaque="%s"' % p["opaque"]
    return value


def check_success(op, headers, body):
    want = PKCS7 if op == "cacerts" else ENROLL_TYPE
    ctype = first(headers, "Content-Type")
    if ctype != want and not (op == "cacerts" and ctype == ENROLL_TYPE):
        raise GiveUp("Content-Type %r, want %r" % (ctype, want))
    try:
        return base64.b64decode(body, validate=False)
    except ValueError as e:
        raise GiveUp("body is not base64: %s" % e)


def run(args):
    url = urllib.parse.urlsplit(args.url)
    op = args.op
    path = url.path.rstrip("/") + "/" + op
    if op == "cacerts":
        method, body, headers = "GET", None, []
    else:
        with open(args.csr, "rb") as f:
            body = f.read()
        method, headers = "POST", ["Content-Type: application/pkcs10"]
    status, rh, rbody = exchange(args, url, method, path, headers, body)
    if status == 401 and op != "cacerts" and args.user:
        authz = digest_answer(args, rh, method, op)
        status, rh, rbody = exchange(args, url, method, path,
                                     headers + ["Authorization: " + authz],
                                     body)
    if status == 202:
        ra = first(rh, "Retry-After")
        if ra is None or not ra.isdigit():
            raise GiveUp("202 without Retry-After seconds: %r" % ra)
        print(ra)
        return 3
    if status != 200:
        # estrad's 401 has no body: its reason is the status line's phrase.
        why = rbody.decode("latin-1").strip() or first(rh, ":phrase") or ""
        raise GiveUp("HTTP %d: %s" % (status, why[:200]))
    der = check_success(op, rh, rbody)
    if args.out:
        with open(args.out, "wb") as f:
            f.write(der)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--op", required=True,
                    choices=["cacerts", "simpleenroll", "simplereenroll"])
    ap.add_argument("--csr")
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--out")
    ap.add_argument("--close-notify", choices=["report", "require"],
                    default="report")
    args = ap.parse_args()
    try:
        return run(args)
    except (GiveUp, OSError, ssl.SSLError) as e:
        sys.stderr.write("libest_client: %s: %s\n" % (args.op, e))
        return 1


if __name__ == "__main__":
    sys.exit(main())
