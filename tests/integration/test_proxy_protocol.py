"""PROXY protocol (HAProxy's v1 and v2) through the real binary: read on entry points from
`proxyProtocol.trustedIPs` (the address it carries replaces the socket's), ignored from other
peers, and sent to TCP backends whose service sets `proxyProtocol.version`
(TRAEFIK-COMPAT §5 entry points; issue 5 item 5)."""
import ipaddress
import json
import socket
import struct
import threading

import pytest

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, sport, dst, dport):
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    fam = 0x11 if s.version == 4 else 0x21
    addrs = s.packed + d.packed + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", len(addrs)) + addrs


class Recorder:
    """A TCP server that records the first bytes of each connection, then closes it."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.got = []
        self.event = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.settimeout(5)
                data = b""
                try:
                    while b"hello" not in data:
                        chunk = c.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except OSError:
                    pass
                self.got.append(data)
                c.sendall(b"ok")
                self.event.set()


@pytest.fixture
def env(wharf, backends):
    b = backends.http("pp")
    rec1, rec2 = Recorder(), Recorder()
    w = wharf.start({
        "entryPoints": {
            "trusted": {"proxyProtocol": {"trustedIPs": ["127.0.0.1/32", "::1"]}},
            "untrusted": {"proxyProtocol": {"trustedIPs": ["10.0.0.0/8"]}},
            "tcp1": {}, "tcp2": {},
        },
    }, dynamic={
        "http": {
            "routers": {"r": {"rule": "Host(`pp.example`)", "service": "s",
                              "entryPoints": ["trusted", "untrusted"]},
                        "ip": {"rule": "Host(`ip.example`) && ClientIP(`203.0.113.0/24`)",
                               "service": "s", "entryPoints": ["trusted"]}},
            "services": {"s": {"loadBalancer": {"servers": [{"url": b.url}]}}},
        },
        "tcp": {
            "routers": {
                "t1": {"rule": "HostSNI(`*`)", "service": "v1", "entryPoints": ["tcp1"]},
                "t2": {"rule": "HostSNI(`*`)", "service": "v2", "entryPoints": ["tcp2"]},
            },
            "services": {
                "v1": {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{rec1.port}"}],
                                        "proxyProtocol": {"version": 1}}},
                "v2": {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{rec2.port}"}],
                                        "proxyProtocol": {"version": 2}}},
            },
        },
    })
    return {"w": w, "b": b, "rec1": rec1, "rec2": rec2}


def request(port, prefix, host="pp.example"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(prefix + f"GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                  .encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else None
    body = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
    return status, body


def xff(body):
    return dict(json.loads(body)["headers"]).get("X-Forwarded-For")


@pytest.mark.parametrize("prefix,client", [
    (b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n", "203.0.113.7"),
    (b"PROXY TCP6 2001:db8::7 ::1 5555 80\r\n", "2001:db8::7"),
    (v2_header("203.0.113.9", 4444, "127.0.0.1", 80), "203.0.113.9"),
    (b"", "127.0.0.1"),  # a trusted peer may send no header
    (b"PROXY UNKNOWN\r\n", "127.0.0.1"),
])
def test_trusted_peer_header_sets_the_client_address(env, prefix, client):
    status, body = request(env["w"].ports["trusted"], prefix)
    assert status == 200, body
    assert xff(body) == client


def test_client_ip_matcher_sees_the_proxied_address(env):
    port = env["w"].ports["trusted"]
    assert request(port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n", "ip.example")[0] == 200
    assert request(port, b"PROXY TCP4 198.51.100.7 127.0.0.1 5555 80\r\n", "ip.example")[0] \
        == 404


def test_header_from_an_untrusted_peer_is_not_believed(env):
    status, _ = request(env["w"].ports["untrusted"],
                        b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n")
    assert status == 400  # it is not HTTP
    status, body = request(env["w"].ports["untrusted"], b"")
    assert status == 200 and xff(body) == "127.0.0.1"


def test_malformed_header_from_a_trusted_peer_is_closed(env):
    w = env["w"]
    with socket.create_connection(("127.0.0.1", w.ports["trusted"]), timeout=5) as s:
        s.sendall(b"PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\nGET / HTTP/1.1\r\n\r\n")
        s.settimeout(5)
        assert s.recv(100) == b""
    assert request(w.ports["trusted"], b"")[0] == 200


@pytest.mark.parametrize("ep,rec,want", [
    ("tcp1", "rec1", b"PROXY TCP4 127.0.0.1 127.0.0.1 "),
    ("tcp2", "rec2", V2_SIG + b"\x21\x11"),
])
def test_tcp_service_sends_the_header_to_its_backend(env, ep, rec, want):
    w = env["w"]
    port = w.ports[ep]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        client_port = s.getsockname()[1]
        s.sendall(b"hello")
        s.settimeout(5)
        assert s.recv(10) == b"ok"
    got = env[rec].got[-1]
    assert got.startswith(want), got
    assert got.endswith(b"hello")
    if ep == "tcp1":
        line = got.split(b"\r\n", 1)[0].split()
        assert line[4] == str(client_port).encode()  # the client's port
        assert line[5] == str(port).encode()                 # wharf's entry point port
