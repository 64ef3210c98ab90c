#!/usr/bin/env python3
"""A hostile upstream CA for tests (issue 8): TLS with the lab CA's server
certificate, a client certificate required (the RA's), one connection.
It reads the request (headers and Content-Length body), then answers
according to its mode:

  drip   a 200 status line and headers, then one byte of body every 0.5 s
         for as long as the client stays (a CA that streams slowly);
  reset  a 200 with a Content-Length of 2000, 300 bytes of it, then a TCP
         reset (SO_LINGER 0) mid-answer;
  flood  a 200 without a length whose body never ends: 16 KiB at a time
         as fast as the client takes them, until it leaves (prints the
         bytes sent);
  late   after DELAY seconds, the whole of ANSWERFILE (a complete HTTP
         answer, see http_answer in lib.sh), then it closes (a CA that
         takes its time to issue).

usage: drip_ca.py MODE CHAIN KEY CAFILE [DELAY ANSWERFILE]  (CHAIN: the
server certificate then its issuer; prints its port, then serves one
connection)
"""
import socket
import ssl
import struct
import sys
import time


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        body += chunk
    return True


def main():
    mode, chain, key, cafile = sys.argv[1:5]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    ctx.load_verify_locations(cafile)
    ctx.verify_mode = ssl.CERT_REQUIRED
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    print(srv.getsockname()[1], flush=True)
    raw, _ = srv.accept()
    conn = ctx.wrap_socket(raw, server_side=True)
    if not read_request(conn):
        return
    print("request", flush=True)
    head = (b"HTTP/1.1 200 OK\r\n"
            b"Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n")
    if mode == "late":
        time.sleep(float(sys.argv[5]))
        with open(sys.argv[6], "rb") as f:
            conn.sendall(f.read())
        conn.close()
        print("answered", flush=True)
    elif mode == "drip":
        conn.sendall(head + b"Content-Length: 2000\r\n\r\n")
        try:
            for _ in range(240):
                conn.sendall(b"M")
                time.sleep(0.5)
        except OSError:
            pass
        print("client left", flush=True)
    elif mode == "reset":
        conn.sendall(head + b"Content-Length: 2000\r\n\r\n" + b"M" * 300)
        time.sleep(0.2)
        # wrap_socket took the descriptor over: linger 0 on it, so that
        # close() sends a TCP reset.
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        conn.close()
        print("reset", flush=True)
    elif mode == "flood":
        conn.sendall(head + b"Connection: close\r\n\r\n")
        sent = 0
        try:
            while sent < 1 << 30:
                conn.sendall(b"M" * 16384)
                sent += 16384
        except OSError:
            pass
        print("client left after %d" % sent, flush=True)


if __name__ == "__main__":
    main()
