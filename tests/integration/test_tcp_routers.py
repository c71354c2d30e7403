"""TCP routers through the real binary: plaintext catch-all routers taking an entry point ahead
of its HTTP routers, TCP load balancing (round robin and weighted), and the TCP middlewares
ipAllowList (and v2's ipWhiteList) and inFlightConn (TRAEFIK-COMPAT §3 TCP matchers; issue 5
item 5). TLS TCP routers (passthrough, termination, ALPN) are in test_tls.py."""
import socket
import time

import pytest

from test_tls import EchoBackend, recv_some


def exchange(port, payload=b"hi", timeout=5.0):
    """Sends payload on a new connection; returns what came back (b"" when closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        try:
            return recv_some(s, 1, timeout)
        except (ConnectionResetError, socket.timeout):
            return b""


@pytest.fixture
def env(wharf, backends):
    e1, e2, e3 = EchoBackend("one"), EchoBackend("two"), EchoBackend("three")
    http_b = backends.http("web")

    def lb(*bs):
        return {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{b.port}"} for b in bs]}}

    w = wharf.start({"entryPoints": {"shared": {}, "rr": {}, "wrr": {}, "deny": {},
                                     "allow": {}, "v2name": {}, "limit": {}}},
                    dynamic={
        "http": {
            "routers": {"h": {"rule": "PathPrefix(`/`)", "service": "h",
                              "entryPoints": ["shared"]}},
            "services": {"h": {"loadBalancer": {"servers": [{"url": http_b.url}]}}},
        },
        "tcp": {
            "routers": {
                "shared": {"rule": "HostSNI(`*`)", "service": "one", "entryPoints": ["shared"]},
                "rr": {"rule": "HostSNI(`*`)", "service": "pair", "entryPoints": ["rr"]},
                "wrr": {"rule": "HostSNI(`*`)", "service": "weighted", "entryPoints": ["wrr"]},
                "deny": {"rule": "HostSNI(`*`)", "service": "one", "entryPoints": ["deny"],
                         "middlewares": ["elsewhere"]},
                "allow": {"rule": "HostSNI(`*`)", "service": "one", "entryPoints": ["allow"],
                          "middlewares": ["local"]},
                "v2name": {"rule": "HostSNI(`*`)", "service": "one", "entryPoints": ["v2name"],
                           "middlewares": ["oldlocal"]},
                "limit": {"rule": "HostSNI(`*`)", "service": "one", "entryPoints": ["limit"],
                          "middlewares": ["two-at-once"]},
            },
            "services": {
                "one": lb(e1),
                "pair": lb(e1, e2),
                "three": lb(e3),
                "weighted": {"weighted": {"services": [{"name": "one", "weight": 3},
                                                       {"name": "three", "weight": 1}]}},
            },
            "middlewares": {
                "elsewhere": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"]}},
                "local": {"ipAllowList": {"sourceRange": ["10.0.0.0/8", "127.0.0.1/32"]}},
                "oldlocal": {"ipWhiteList": {"sourceRange": ["127.0.0.0/8"]}},
                "two-at-once": {"inFlightConn": {"amount": 2}},
            },
        },
    })
    yield {"w": w}
    for b in (e1, e2, e3):
        b.close()


def test_catch_all_tcp_router_comes_before_http_routers(env):
    assert exchange(env["w"].ports["shared"], b"GET / HTTP/1.1\r\n\r\n").startswith(b"one:GET")


def test_tcp_round_robin_over_servers(env):
    got = [exchange(env["w"].ports["rr"]).split(b":")[0] for _ in range(6)]
    assert sorted(set(got)) == [b"one", b"two"], got
    assert got.count(b"one") == 3, got


def test_weighted_tcp_service(env):
    got = [exchange(env["w"].ports["wrr"]).split(b":")[0] for _ in range(8)]
    assert got.count(b"one") == 6 and got.count(b"three") == 2, got


@pytest.mark.parametrize("ep,ok", [("deny", False), ("allow", True), ("v2name", True)])
def test_ip_allow_list(env, ep, ok):
    got = exchange(env["w"].ports[ep])
    assert (got == b"one:hi") is ok, got


def test_in_flight_conn_limits_open_connections_per_client(env):
    port = env["w"].ports["limit"]
    held = []
    try:
        for _ in range(2):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.sendall(b"x")
            assert recv_some(s, 5) == b"one:x"
            held.append(s)
        assert exchange(port) == b""  # the third is closed
        held.pop().close()
        deadline = time.monotonic() + 5
        while exchange(port) != b"one:hi":  # a slot is free again once wharf saw the close
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        for s in held:
            s.close()
