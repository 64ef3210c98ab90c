#!/usr/bin/env python3
"""TLS clients for the connection-limit cases (conn_limits.sh).

  tls_conns.py hold PORT CAFILE SOURCE COUNT [TIMEOUT]
      open COUNT TLS connections from the address SOURCE (127.0.0.x),
      each given TIMEOUT seconds (10), print "ok" or "refused: REASON"
      for each, then "ready", and keep them open until killed (SIGTERM).
  tls_conns.py silent PORT COUNT
      open COUNT TCP connections that never send a byte, print "ready"
      and keep them open until killed.
  tls_conns.py trickle PORT CAFILE INTERVAL
      send a real ClientHello one byte every INTERVAL seconds and print
      "closed after MS" when the server ends the connection (or "still
      open" after 30 s).
  tls_conns.py trickle_http PORT INTERVAL
      the same with a plain HTTP request (GET /healthz).
  tls_conns.py idle PORT COUNT WAIT
      open COUNT TCP connections that never send a byte, wait WAIT
      seconds, print "open N closed M" (how many the server has closed),
      then "ready", and keep the open ones until killed.
"""
import socket
import ssl
import sys
import time


def context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    return ctx


def hold(port, cafile, source, count, timeout):
    ctx = context(cafile)
    kept = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.settimeout(timeout)
        try:
            s.connect(("127.0.0.1", port))
            t = ctx.wrap_socket(s, server_hostname="localhost")
            kept.append(t)
            print("ok", flush=True)
        except (ssl.SSLError, OSError) as e:
            print("refused: %s" % e, flush=True)
            s.close()
    print("ready", flush=True)
    while kept:
        time.sleep(3600)


def silent(port, count):
    kept = [socket.create_connection(("127.0.0.1", port))
            for _ in range(count)]
    print("ready", flush=True)
    while kept:
        time.sleep(3600)


def idle(port, count, wait):
    kept = [socket.create_connection(("127.0.0.1", port))
            for _ in range(count)]
    time.sleep(wait)
    still = []
    for s in kept:
        s.setblocking(False)
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                s.close()
                continue
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        still.append(s)
    print("open %d closed %d" % (len(still), count - len(still)), flush=True)
    print("ready", flush=True)
    while still:
        time.sleep(3600)


def client_hello(cafile):
    ctx = context(cafile)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def trickle(port, hello, interval):
    s = socket.create_connection(("127.0.0.1", port))
    t0 = time.monotonic()
    s.settimeout(interval)
    for i in range(len(hello)):
        try:
            s.sendall(hello[i:i + 1])
        except OSError:
            break
        try:
            if s.recv(4096) == b"":
                break
        except socket.timeout:
            pass
        except OSError:
            break
        if time.monotonic() - t0 > 30:
            print("still open", flush=True)
            return
    else:
        print("sent in full", flush=True)
        return
    print("closed after %d" % int((time.monotonic() - t0) * 1000), flush=True)


def main():
    if len(sys.argv) in (6, 7) and sys.argv[1] == "hold":
        hold(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]),
             float(sys.argv[6]) if len(sys.argv) == 7 else 10.0)
    elif len(sys.argv) == 4 and sys.argv[1] == "silent":
        silent(int(sys.argv[2]), int(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "trickle":
        trickle(int(sys.argv[2]), client_hello(sys.argv[3]),
                float(sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "trickle_http":
        trickle(int(sys.argv[2]), b"GET /healthz HTTP/1.1\r\n"
                b"Host: localhost\r\nX-Padding: " + b"x" * 200 +
                b"\r\n\r\n", float(sys.argv[3]))
    elif len(sys.argv) == 5 and sys.argv[1] == "idle":
        idle(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)


main()
