"""Routing on the control-loop server: 404 shape, canonical paths before matching, and the
routers wharf derives from the static configuration (entry point redirections, ping)."""

import socket

import pytest


@pytest.fixture(scope="module")
def w(module_wharf):
    static = {
        "api": {"insecure": True},
        "ping": {},
        "entryPoints": {
            "web": {"http": {"redirections": {"entryPoint": {"to": "websecure"}}}},
            "websecure": {},
            "plain": {},
        },
    }
    dynamic = {
        "http": {
            "routers": {
                "api": {
                    "rule": "Host(`admin.example`) && PathPrefix(`/api`)",
                    "service": "api@internal",
                    "entryPoints": ["plain"],
                }
            }
        }
    }
    return module_wharf.start(static, dynamic=dynamic)


def test_redirect_router_sends_https_with_the_target_port(w):
    r = w.get("/some/path?q=1", entrypoint="web", headers={"Host": "shop.example:81"},
              allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"] == f"https://shop.example:{w.ports['websecure']}/some/path?q=1"
    # POST gets 308 so the method and body are kept
    r = w.http.post(w.url("/x", "web"), headers={"Host": "shop.example"}, allow_redirects=False)
    assert r.status_code == 308
    routers = {x["name"] for x in w.get("/api/http/routers").json()}
    assert "web-to-websecure@internal" in routers
    mws = {x["name"]: x for x in w.get("/api/http/middlewares").json()}
    assert mws["redirect-web-to-websecure@internal"]["redirectScheme"]["scheme"] == "https"


def test_no_route_is_the_traefik_404(w):
    r = w.get("/", entrypoint="plain", headers={"Host": "nothing.example"})
    assert r.status_code == 404
    assert r.text == "404 page not found\n"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_host_matching_folds_case_port_and_trailing_dot(w):
    for host in ("admin.example", "ADMIN.Example", "admin.example.", "admin.example:1234"):
        r = w.get("/api/version", entrypoint="plain", headers={"Host": host})
        assert r.status_code == 200, host


def raw(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_path_is_canonical_before_matching(w):
    port = w.ports["plain"]
    # dot segments, encoded dots and double slashes are resolved before the router sees them
    for target in (b"/pub/../api/version", b"/pub/%2e%2e/api/version", b"//api/version"):
        out = raw(port, b"GET " + target + b" HTTP/1.1\r\nHost: admin.example\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200"), (target, out[:80])
    out = raw(port, b"GET /api/%zz HTTP/1.1\r\nHost: admin.example\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out[:80]
    # an encoded slash is not a slash: /api%2Fversion is not under /api/
    out = raw(port, b"GET /api%2Fversion HTTP/1.1\r\nHost: admin.example\r\n\r\n")
    assert not out.startswith(b"HTTP/1.1 200"), out[:80]


def test_ping_and_bad_requests(w):
    assert w.get("/ping").text == "OK"
    out = raw(w.ports["plain"], b"GET / HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400")
    # the process is unaffected
    assert w.get("/ping").text == "OK"
