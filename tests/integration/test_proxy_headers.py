"""Request headers as the backend receives them: X-Forwarded-* and X-Real-Ip built from the
socket (TRAEFIK-COMPAT §9), client-sent copies stripped unless the peer is trusted, hop-by-hop
fields removed without letting `Connection` remove the proxy's own (HARDENING 16, 17), h2c
upgrades never forwarded (HARDENING 11), and passHostHeader (§10)."""

import itertools
import socket

import pytest

from backends import RawConn, lb_service, wait_routed

_seq = itertools.count(1)

SPOOFED = [
    ("X-Forwarded-For", "1.2.3.4"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Port", "444"),
    ("X-Forwarded-Server", "evil-server"),
    ("X-Real-IP", "1.2.3.4"),
    ("X-Forwarded-Uri", "/admin"),
    ("X-Forwarded-Method", "DELETE"),
    ("X-Forwarded-Prefix", "/evil"),
    ("X_Forwarded_For", "5.6.7.8"),
    ("X_Real_Ip", "5.6.7.8"),
    ("X_Forwarded_Proto", "https"),
]


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    b = module_backends.http("origin")
    static = {
        "api": {"insecure": True},
        "ping": {},
        "entryPoints": {
            "web": {},
            "trusted": {"forwardedHeaders": {"trustedIPs": ["127.0.0.1/32"]}},
        },
    }
    dynamic = {
        "http": {
            "routers": {
                "app": {"rule": "Host(`app.example`)", "service": "app",
                        "entryPoints": ["web", "trusted"]},
                "nopass": {"rule": "Host(`nopass.example`)", "service": "nopass",
                           "entryPoints": ["web"]},
            },
            "services": {
                "app": lb_service(b.url),
                "nopass": lb_service(b.url, passHostHeader=False),
            },
        }
    }
    w = module_wharf.start(static, dynamic=dynamic)
    wait_routed(w, "app.example")
    wait_routed(w, "app.example", entrypoint="trusted")
    wait_routed(w, "nopass.example")
    return w, b


def received(env, headers=(), host="app.example", entrypoint="web", target=None, method="GET"):
    """Sends one request with raw header lines; returns (response, the backend's record)."""
    w, b = env
    b.clear()
    marker = target or f"/hdr-{next(_seq)}"
    with RawConn(w.ports[entrypoint]) as c:
        c.request(method, marker, host=host, headers=list(headers))
        r = c.read_response()
    assert r is not None and r.status == 200, r
    got = b.wait_requests(lambda q: q.target == marker, 1, timeout=5)
    assert len(got) == 1, b.log()
    return r, got[0]


def managed_names(req):
    return [k for k, _ in req.headers if k.lower().replace("_", "-").startswith("x-forwarded")
            or k.lower().replace("_", "-") == "x-real-ip"]


def test_forwarded_headers_are_built_from_the_socket(env):
    _, req = received(env)
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Real-Ip") == "127.0.0.1"
    assert req.header("X-Forwarded-Proto") == "http"
    assert req.header("X-Forwarded-Host") == "app.example"
    assert req.header("X-Forwarded-Port") == "80"
    assert req.header("X-Forwarded-Server") == socket.gethostname()
    # One of each, no duplicates.
    for name in ("X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host",
                 "X-Forwarded-Port", "X-Forwarded-Server"):
        assert len(req.header_all(name)) == 1, (name, req.headers)


def test_forwarded_host_and_port_come_from_the_host_header(env):
    _, req = received(env, host="app.example:8443")
    assert req.header("X-Forwarded-Host") == "app.example:8443"
    assert req.header("X-Forwarded-Port") == "8443"


def test_untrusted_spoofed_forwarded_headers_are_replaced(env):
    _, req = received(env, SPOOFED)
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Real-Ip") == "127.0.0.1"
    assert req.header("X-Forwarded-Proto") == "http"
    assert req.header("X-Forwarded-Host") == "app.example"
    assert req.header("X-Forwarded-Port") == "80"
    assert req.header("X-Forwarded-Server") == socket.gethostname()
    for gone in ("X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Prefix"):
        assert not req.has_header(gone), req.headers
    # The underscore spellings do not survive either (a backend framework may fold them).
    assert not [k for k, _ in req.headers if "_" in k], req.headers
    for _, v in req.headers:
        assert "1.2.3.4" not in v and "5.6.7.8" not in v and "evil" not in v, req.headers


def test_trusted_peer_keeps_its_forwarded_headers(env):
    _, req = received(env, SPOOFED[:4] + [("X-Real-IP", "1.2.3.4")], entrypoint="trusted")
    assert req.header("X-Forwarded-For") == "1.2.3.4, 127.0.0.1"
    assert req.header("X-Real-Ip") == "1.2.3.4"
    assert req.header("X-Forwarded-Proto") == "https"
    assert req.header("X-Forwarded-Host") == "evil.example"
    assert req.header("X-Forwarded-Port") == "444"
    # X-Forwarded-Server is always the proxy's own.
    assert req.header("X-Forwarded-Server") == socket.gethostname()


def test_trusted_entrypoint_without_client_headers_fills_them_in(env):
    _, req = received(env, entrypoint="trusted")
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Real-Ip") == "127.0.0.1"
    assert req.header("X-Forwarded-Proto") == "http"


def test_connection_listed_hop_by_hop_fields_are_removed(env):
    _, req = received(env, [
        ("Connection", "keep-alive, X-Hop-One, x-hop-two"),
        ("Keep-Alive", "timeout=5"),
        ("X-Hop-One", "1"),
        ("X-Hop-Two", "2"),
        ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
        ("X-Keep-Me", "yes"),
    ])
    for gone in ("X-Hop-One", "X-Hop-Two", "Keep-Alive", "Proxy-Connection",
                 "Proxy-Authorization"):
        assert not req.has_header(gone), (gone, req.headers)
    assert req.header("X-Keep-Me") == "yes"
    assert "x-hop" not in (req.header("Connection") or "").lower()


def test_connection_cannot_remove_proxy_owned_headers(env):
    """HARDENING 17: `Connection: close, X-Forwarded-For, x-real-ip`."""
    w, b = env
    b.clear()
    with RawConn(w.ports["web"]) as c:
        c.request("GET", "/conn-owned", host="app.example",
                  headers=[("Connection", "close, X-Forwarded-For, x-real-ip")])
        r = c.read_response()
        assert r is not None and r.status == 200, r
        # close was honoured for the client connection.
        assert c.closed_by_peer(5)
    got = b.wait_requests(lambda q: q.target == "/conn-owned", 1, 5)
    assert len(got) == 1
    req = got[0]
    assert req.header("X-Forwarded-For") == "127.0.0.1", req.headers
    assert req.header("X-Real-Ip") == "127.0.0.1", req.headers
    assert req.header("X-Forwarded-Proto") == "http"
    assert req.header("X-Forwarded-Host") == "app.example"


def test_connection_listing_proxy_headers_with_spoofed_values(env):
    """Listing them in Connection neither removes the proxy's values nor lets the spoofed
    ones through."""
    _, req = received(env, [("Connection", "X-Forwarded-For, X-Real-IP, X-Forwarded-Host"),
                            ("X-Forwarded-For", "9.9.9.9"), ("X-Real-IP", "9.9.9.9"),
                            ("X-Forwarded-Host", "evil.example")])
    assert req.header("X-Forwarded-For") == "127.0.0.1"
    assert req.header("X-Real-Ip") == "127.0.0.1"
    assert req.header("X-Forwarded-Host") == "app.example"


def test_h2c_upgrade_is_not_forwarded(env):
    r, req = received(env, [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                            ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
    assert r.status == 200 and r.header("X-Backend") == "origin"
    assert not req.has_header("Upgrade"), req.headers
    assert not req.has_header("HTTP2-Settings"), req.headers
    assert "upgrade" not in (req.header("Connection") or "").lower()


def test_h2c_upgrade_then_same_connection_still_http1(env):
    w, b = env
    with RawConn(w.ports["web"]) as c:
        c.request("GET", "/h2c-1", host="app.example",
                  headers=[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                           ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
        r = c.read_response()
        assert r is not None and r.status == 200, r
        if "close" in (r.header("Connection") or "").lower():
            # Closing after the refused upgrade is allowed when announced.
            assert c.closed_by_peer(5)
            return
        # Otherwise the connection is still plain HTTP/1.1 and stays usable.
        c.request("GET", "/h2c-2", host="app.example")
        r = c.read_response()
        assert r is not None and r.status == 200 and r.header("X-Echo-Target") == "/h2c-2", r


def test_pass_host_header_true_sends_the_client_host(env):
    _, req = received(env, host="app.example:9999")
    assert req.header_all("Host") == ["app.example:9999"]


def test_pass_host_header_false_sends_the_server_host(env):
    w, b = env
    _, req = received(env, host="nopass.example")
    assert req.header_all("Host") == [f"127.0.0.1:{b.port}"]
    # The original host is still available to the backend.
    assert req.header("X-Forwarded-Host") == "nopass.example"


def test_end_to_end_headers_and_body_pass_unchanged(env):
    body = b'{"k": "v", "bytes": "\\u00e9"}'
    _, req = received(env, [("X-Custom", "a, b"), ("X-Custom", "c"), ("Accept", "*/*"),
                            ("Content-Type", "application/json"),
                            ("Cookie", "a=1; b=2")], method="GET")
    assert req.header_all("X-Custom") in (["a, b", "c"], ["a, b, c"])
    assert req.header("Cookie") == "a=1; b=2"
    w, b = env
    b.clear()
    with RawConn(w.ports["web"]) as c:
        c.request("POST", "/post-body", host="app.example",
                  headers=[("Content-Type", "application/json")], body=body)
        r = c.read_response()
    assert r.status == 200
    got = r.json()
    assert got["body"].encode("latin-1") == body
    assert got["method"] == "POST"
