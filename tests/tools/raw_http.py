#!/usr/bin/env python3
"""Send bytes as they are to an HTTP server, over TLS or plain TCP, and
keep what comes back (the http_framing case: requests no HTTP client
would send).

  raw_http.py BASE CAFILE REQUEST ANSWER [CERT KEY]
      BASE is https://HOST:PORT or http://HOST:PORT; REQUEST a file sent
      in one write; everything the server sends until it closes (or stays
      silent for 3 s) lands in ANSWER. Prints "closed MS" when the server
      closed the connection, "open MS" when it fell silent, MS the time
      from the last byte sent to the end. CERT and KEY: a client
      certificate for TLS.
"""
import socket
import ssl
import sys
import time
from urllib.parse import urlsplit


def connect(base, cafile, cert, key):
    u = urlsplit(base)
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    if u.scheme != "https":
        return s
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx.wrap_socket(s, server_hostname=u.hostname)


def main(argv):
    base, cafile, request, answer = argv[1:5]
    cert, key = (argv[5], argv[6]) if len(argv) > 6 else (None, None)
    with open(request, "rb") as f:
        data = f.read()
    s = connect(base, cafile, cert, key)
    s.sendall(data)
    t0 = time.monotonic()
    s.settimeout(3)
    got, state = b"", "closed"
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            state = "open"
            break
        except (ConnectionResetError, ssl.SSLError):
            break
        if not chunk:
            break
        got += chunk
    with open(answer, "wb") as f:
        f.write(got)
    print("%s %d" % (state, (time.monotonic() - t0) * 1000))
    s.close()


if __name__ == "__main__":
    main(sys.argv)
