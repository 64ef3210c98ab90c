#!/usr/bin/env python3
"""udp_stall.py SERVER_PORT N: a UDP relay on 127.0.0.1 that passes the
client's first N datagrams to 127.0.0.1:SERVER_PORT and none after, and
every answer back. Through it a DTLS client gets as far as the server's
flight after the cookie exchange (N = 2: the ClientHello, then the
ClientHello with the cookie) and its handshake then stalls at the server:
what coap.handshake_timeout is for. Prints "port PORT" once listening;
runs until killed."""
import socket
import sys


def main():
    server = ("127.0.0.1", int(sys.argv[1]))
    passes = int(sys.argv[2])
    front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    front.bind(("127.0.0.1", 0))
    back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    back.connect(server)
    print("port", front.getsockname()[1], flush=True)
    client = None
    sent = 0
    import select
    while True:
        ready, _, _ = select.select([front, back], [], [])
        if front in ready:
            data, client = front.recvfrom(65535)
            if sent < passes:
                back.send(data)
                sent += 1
        if back in ready:
            try:
                data = back.recv(65535)
            except ConnectionRefusedError:
                continue
            if client is not None:
                front.sendto(data, client)


if __name__ == "__main__":
    main()
