#!/usr/bin/env python3
"""A fake EST server that is busy on purpose, for estbench's own tests
(estbench_smoke): TLS with the lab CA's server certificate, no client
authentication, HTTP/1.1 keep-alive, one thread per connection. What a
POST .../LABEL/simpleenroll gets depends on LABEL:

  retry  the first attempt of each CSR (told apart by its body): 503 with
         a Retry-After of 1 s, as delay-seconds or, for every other CSR,
         as an IMF-fixdate 2 s ahead (RFC 9110 §10.2.3); later attempts:
         200 with P7FILE (a base64 certs-only PKCS#7);
  junk   503 with "Retry-After: soon" (no usable value: an error);
  bad    502 without Retry-After.

It prints its port, then serves until killed; on SIGTERM it prints
"csrs=N requests=M" (distinct CSRs, requests answered).

usage: busy_est.py CHAIN KEY P7FILE
"""
import email.utils
import hashlib
import http.server
import signal
import socketserver
import ssl
import sys
import threading
import time


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, ctx, p7):
        super().__init__(("127.0.0.1", 0), Handler)
        self.ctx = ctx
        self.p7 = p7
        self.lock = threading.Lock()
        self.seen = {}
        self.requests = 0

    def get_request(self):
        sock, addr = self.socket.accept()
        # the handshake runs in the connection's thread, not in accept
        return self.ctx.wrap_socket(sock, server_side=True,
                                    do_handshake_on_connect=False), addr


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536    # the head and body in one write: no Nagle wait

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if status != 200 else
                         "application/pkcs7-mime; smime-type=certs-only")
        if status == 200:
            self.send_header("Content-Transfer-Encoding", "base64")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        label = self.path.rstrip("/").split("/")[-2]
        srv = self.server
        digest = hashlib.sha256(body).digest()
        with srv.lock:
            srv.requests += 1
            n = srv.seen.get(digest, 0)
            srv.seen[digest] = n + 1
        if label == "junk":
            self.answer(503, b"busy\n", [("Retry-After", "soon")])
        elif label == "bad":
            self.answer(502, b"the CA failed\n")
        elif n == 0 and digest[0] % 2:
            when = email.utils.formatdate(time.time() + 2, usegmt=True)
            self.answer(503, b"busy\n", [("Retry-After", when)])
        elif n == 0:
            self.answer(503, b"busy\n", [("Retry-After", "1")])
        else:
            self.answer(200, srv.p7)


def main():
    chain, key, p7file = sys.argv[1:4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(chain, key)
    with open(p7file, "rb") as f:
        p7 = f.read()
    srv = Server(ctx, p7)

    def stop(*_):
        print("csrs=%d requests=%d" % (len(srv.seen), srv.requests),
              flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
