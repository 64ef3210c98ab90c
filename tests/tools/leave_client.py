#!/usr/bin/env python3
"""EST clients that leave, half-close or wait, for the cases on how
estrad tells a client that went away from one that only stopped sending
(client_leaves.sh) and on the drain at SIGTERM (graceful_stop.sh). Each
speaks HTTP/1.1 over TLS to 127.0.0.1:PORT with the client certificate
CERT/KEY (which the lab proxy accepts for enrollments), trusting CAFILE.

  leave_client.py halfclose PORT CAFILE CERT KEY PATH BODYFILE
      POST BODYFILE (application/pkcs10) to PATH, then shut down the
      sending side of the TCP connection (a FIN; the TLS session stays),
      read the answer to its end and print it: the status line, the
      headers, a blank line, the body.
  leave_client.py reset PORT CAFILE CERT KEY PATH [BODYFILE]
      send the request (GET without BODYFILE), wait 0.3 s, then close
      with SO_LINGER 0: a TCP reset, no answer read. Prints "reset".
  leave_client.py pipereset PORT CAFILE CERT KEY PATH
      GET PATH, 0.3 s later the same GET again on the same connection
      (bytes estrad must leave to evhttp), 0.3 s later a TCP reset.
      Prints "reset".
  leave_client.py keepalive PORT CAFILE CERT KEY PATH BODYFILE COUNT
      open COUNT connections, GET /.well-known/est/cacerts on each and
      keep them alive; print "ready"; when a line comes on stdin, POST
      BODYFILE to PATH on every one of them at once, and print for each
      "STATUS close" or "STATUS keep-alive" (its Connection header), or
      "none: WHY" when the connection ended without an answer.
"""
import socket
import ssl
import struct
import sys
import time


def connect(port, cafile, cert, key):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", port), timeout=20)
    return ctx.wrap_socket(raw, server_hostname="localhost")


def request(method, path, body):
    head = "%s %s HTTP/1.1\r\nHost: localhost\r\n" % (method, path)
    if body is not None:
        head += ("Content-Type: application/pkcs10\r\n"
                 "Content-Length: %d\r\n" % len(body))
    return head.encode() + b"\r\n" + (body or b"")


def read_answer(conn):
    """(status line, {header: value}, raw head, body); raises on EOF."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(16384)
        if not chunk:
            raise EOFError("closed after %d bytes" % len(data))
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = conn.recv(16384)
        if not chunk:
            raise EOFError("body cut at %d of %d bytes" % (len(body), length))
        body += chunk
    return lines[0], headers, head, body


def halfclose(port, cafile, cert, key, path, bodyfile):
    conn = connect(port, cafile, cert, key)
    conn.sendall(request("POST", path, open(bodyfile, "rb").read()))
    # socket.socket's own shutdown: SSLSocket.shutdown would drop the TLS
    # session; this sends a FIN and keeps reading through TLS.
    socket.socket.shutdown(conn, socket.SHUT_WR)
    _, _, head, body = read_answer(conn)
    sys.stdout.buffer.write(head + b"\r\n\r\n" + body)


def reset(port, cafile, cert, key, path, bodyfile=None):
    conn = connect(port, cafile, cert, key)
    body = open(bodyfile, "rb").read() if bodyfile else None
    conn.sendall(request("POST" if body else "GET", path, body))
    time.sleep(0.3)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    conn.close()
    print("reset", flush=True)


def pipereset(port, cafile, cert, key, path):
    conn = connect(port, cafile, cert, key)
    conn.sendall(request("GET", path, None))
    time.sleep(0.3)
    conn.sendall(request("GET", path, None))
    time.sleep(0.3)
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    conn.close()
    print("reset", flush=True)


def keepalive(port, cafile, cert, key, path, bodyfile, count):
    body = open(bodyfile, "rb").read()
    conns = []
    for _ in range(count):
        c = connect(port, cafile, cert, key)
        c.sendall(request("GET", "/.well-known/est/cacerts", None))
        status, headers, _, _ = read_answer(c)
        if " 200 " not in status + " " or headers.get("connection") == "close":
            sys.exit("cacerts on a new connection: %s %s" % (status, headers))
        conns.append(c)
    print("ready", flush=True)
    sys.stdin.readline()
    for c in conns:
        c.sendall(request("POST", path, body))
    for c in conns:
        try:
            status, headers, _, _ = read_answer(c)
            print("%s %s" % (status.split(" ")[1],
                             headers.get("connection", "keep-alive")),
                  flush=True)
        except (EOFError, OSError) as e:
            print("none: %s" % e, flush=True)


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    port = int(args[0])
    if mode == "halfclose":
        halfclose(port, *args[1:6])
    elif mode == "reset":
        reset(port, *args[1:])
    elif mode == "pipereset":
        pipereset(port, *args[1:5])
    elif mode == "keepalive":
        keepalive(port, *args[1:6], int(args[6]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
