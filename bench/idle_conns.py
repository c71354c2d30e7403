#!/usr/bin/env python3
"""Holds N idle keep-alive connections open to an HTTP server, for the memory case of bench/run.py.

Each connection sends one GET and reads the whole response, so the server has seen a complete
keep-alive exchange and is holding the connection between requests (the state an idle browser
or a client pool leaves it in). Then the helper prints one line, "open <N> ok <M>", and keeps
every connection until its standard input closes or says anything. It closes them with an RST
(SO_LINGER 0) so that 10,000 sockets do not sit in TIME_WAIT on the client side.

usage: idle_conns.py PORT N [HOST_HEADER]   (connects to 127.0.0.1)
"""
import socket
import struct
import sys

BATCH = 250


def read_response(s):
    """True when a complete response with status 200 was read from s."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            return False
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1:%d" % port
    request = ("GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: idle_conns\r\n\r\n" % host).encode()
    socks, ok = [], 0
    while len(socks) < n:
        batch = []
        for _ in range(min(BATCH, n - len(socks))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(request)
            except OSError:
                s.close()
                continue
            batch.append(s)
        if not batch:
            break  # the server refuses more: report what we have
        for s in batch:
            try:
                ok += read_response(s)
            except (OSError, ValueError):
                pass
        socks.extend(batch)
    print("open %d ok %d" % (len(socks), ok), flush=True)
    sys.stdin.readline()
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
