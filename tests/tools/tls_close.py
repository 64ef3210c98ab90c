#!/usr/bin/env python3
"""How does a TLS server end a connection? (the tls_close case)

  tls_close.py MODE PORT CAFILE [PATH]
      one TLS connection to 127.0.0.1:PORT, one GET of PATH (default
      /.well-known/est/cacerts), the whole answer read, then:
        close    the request says "Connection: close"; wait for the end
        http10   the request is HTTP/1.0 (no keep-alive); wait for the end
        idle     the request keeps the connection; wait (30 s at most)
                 for the server to end it (its idle timeout)
        notify   the request keeps the connection; send our close_notify
                 (unwrap) and wait for the server's
        drop     the request keeps the connection; close the socket
                 without a close_notify, as Python's http.client does
        silent   no request at all after the handshake; wait (30 s at
                 most) for the server to end the connection (its read
                 timeout)
        resume12, resume13
                 as drop, on TLS 1.2 (1.3), then a second connection
                 offering the first one's session; prints the second
                 answer's status and "reused" or "new"
      Prints the answer's status code ("-" for silent), then how the server ended:
        "close_notify"   a TLS close_notify came before the TCP end
        "eof"            the TCP connection ended without one
        "reset"          the connection was reset
        "timeout"        nothing in 30 s
      ("sent" for drop: we ended it).
"""
import socket
import ssl
import sys
import time


def context(cafile, version=None):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def connect(port, ctx, session=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    # Ragged EOFs reported, not taken for a close_notify.
    return ctx.wrap_socket(s, server_hostname="localhost",
                           suppress_ragged_eofs=False, session=session)


def read_answer(t):
    """Read one answer with a Content-Length; return (status, rest)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = t.recv(4096)
        if not chunk:
            raise SystemExit("the server ended before an answer: %r" % data)
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = t.recv(4096)
        if not chunk:
            raise SystemExit("the answer was cut short")
        body += chunk
    return head.split(b" ")[1].decode(), body[length:]


def the_end(t):
    """Read until the server ends the connection; say how."""
    try:
        while True:
            if t.recv(4096) == b"":
                return "close_notify"	# SSL_ERROR_ZERO_RETURN
    except ssl.SSLEOFError:
        return "eof"			# unexpected EOF (OpenSSL 3)
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"


def get(t, path, version="HTTP/1.1", conn=""):
    t.sendall(("GET %s %s\r\nHost: localhost\r\n%s\r\n" %
               (path, version, conn)).encode())
    return read_answer(t)


def resume(port, cafile, path, version):
    ctx = context(cafile, version)
    t = connect(port, ctx)
    get(t, path)
    session = t.session		# TLS 1.3: its ticket came with the answer
    t.close()			# no close_notify
    time.sleep(0.3)		# the server has seen the end
    t = connect(port, ctx, session)
    status, _ = get(t, path)
    print(status, flush=True)
    print("reused" if t.session_reused else "new", flush=True)
    t.close()
    return 0


def main(argv):
    mode, port, cafile = argv[1], int(argv[2]), argv[3]
    path = argv[4] if len(argv) > 4 else "/.well-known/est/cacerts"
    version = "HTTP/1.0" if mode == "http10" else "HTTP/1.1"
    conn = "Connection: close\r\n" if mode == "close" else ""
    if mode in ("resume12", "resume13"):
        return resume(port, cafile, path, ssl.TLSVersion.TLSv1_2
                      if mode == "resume12" else ssl.TLSVersion.TLSv1_3)
    t = connect(port, context(cafile))
    if mode == "silent":
        print("-", flush=True)
        print(the_end(t), flush=True)
        return 0
    status, extra = get(t, path, version, conn)
    print(status, flush=True)
    if extra:
        raise SystemExit("bytes after the answer: %r" % extra)
    if mode == "drop":
        t.close()			# no SSL_shutdown: a bare TCP close
        print("sent", flush=True)
        return 0
    if mode == "notify":
        try:
            t.unwrap()			# ours out, then waits for theirs
            print("close_notify", flush=True)
        except ssl.SSLEOFError:
            print("eof", flush=True)
        except (ConnectionResetError, BrokenPipeError):
            print("reset", flush=True)
        except socket.timeout:
            print("timeout", flush=True)
        return 0
    print(the_end(t), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
