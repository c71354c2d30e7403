"""ipAllowList (and v2 ipWhiteList) through the binary: the socket's address decides unless
ipStrategy says otherwise (TRAEFIK-COMPAT §4), rejections carry the status text and never reach
the backend, and the HARDENING items about who the client is and which path it asked for:

- 14: encoded and dotted spellings of an allow-listed path are normalised before routing, so
  the allow list applies (or the request is refused); the backend never gets a path that
  normalises to one the proxy did not route.
- 16, 17 (spoofed X-Forwarded-* / X-Real-IP / `_` variants stripped, `Connection` cannot drop
  the proxy's own headers) are covered by test_proxy_headers.py
  (test_untrusted_spoofed_forwarded_headers_are_replaced,
  test_connection_cannot_remove_proxy_owned_headers,
  test_connection_listing_proxy_headers_with_spoofed_values); here they are checked only where
  the allow list reads those headers (test_16_spoofed_client_headers_do_not_pass_the_list).
- 18: allow-list entry 127.0.0.1, client arriving on a dual-stack socket as ::ffff:127.0.0.1.
"""

import itertools
import re
import socket
import time
from urllib.parse import unquote

import pytest

from backends import RawConn, lb_service, wait_routed, wait_until
from conftest import WharfProcess, free_port

_seq = itertools.count(1)

LOOPBACK_ONLY = {"sourceRange": ["127.0.0.1/32", "::1"]}
ELSEWHERE = {"sourceRange": ["10.0.0.0/8", "2001:db8::/32"]}


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    app = module_backends.http("app")
    pub = module_backends.http("pub")
    admin = module_backends.http("admin")
    static = {
        "ping": {},
        "entryPoints": {
            "web": {},
            # the load balancer in front is trusted: its X-Forwarded-For reaches the middlewares
            "lb": {"forwardedHeaders": {"trustedIPs": ["127.0.0.1/32"]}},
        },
    }
    mws = {
        "loop": {"ipAllowList": LOOPBACK_ONLY},
        "far": {"ipAllowList": ELSEWHERE},
        "far401": {"ipAllowList": {**ELSEWHERE, "rejectStatusCode": 401}},
        "v2loop": {"ipWhiteList": {"sourceRange": ["127.0.0.1"]}},
        "v2far": {"ipWhiteList": {"sourceRange": ["192.0.2.1"]}},
        "depth1": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"], "ipStrategy": {"depth": 1}}},
        "depth2": {"ipAllowList": {"sourceRange": ["10.0.0.0/8"], "ipStrategy": {"depth": 2}}},
        "pool": {"ipAllowList": {"sourceRange": ["192.168.0.0/16"],
                                 "ipStrategy": {"excludedIPs": ["10.0.0.0/8"]}}},
        "guard": {"chain": {"middlewares": ["loop", "far"]}},
        "adminonly": {"ipAllowList": ELSEWHERE},
    }
    routers = {}
    for name in ("loop", "far", "far401", "v2loop", "v2far", "depth1", "depth2", "pool",
                 "guard"):
        routers[name] = {"rule": f"Host(`{name}.example`)", "service": "app",
                         "middlewares": [name], "entryPoints": ["web", "lb"]}
    # HARDENING 14: /admin is allow-listed (nobody on loopback gets in), /pub is open
    routers["h14pub"] = {"rule": "Host(`h14.example`) && PathPrefix(`/pub`)", "service": "pub",
                         "entryPoints": ["web"]}
    routers["h14admin"] = {"rule": "Host(`h14.example`) && PathPrefix(`/admin`)",
                           "service": "admin", "middlewares": ["adminonly"],
                           "entryPoints": ["web"]}
    dynamic = {"http": {"routers": routers, "middlewares": mws,
                        "services": {"app": lb_service(app.url), "pub": lb_service(pub.url),
                                     "admin": lb_service(admin.url)}}}
    w = module_wharf.start(static, dynamic=dynamic)
    paths = {"h14pub": "/pub/x", "h14admin": "/admin"}
    for name in routers:
        host = "h14.example" if name.startswith("h14") else f"{name}.example"
        assert wait_routed(w, host, paths.get(name, "/echo")) != 404, name
    return w, app, pub, admin


def send(env, host, headers=(), entrypoint="web", target=None):
    """One request; returns (response, requests the app backend got for it)."""
    w, app = env[0], env[1]
    marker = target or f"/ip-{next(_seq)}"
    with RawConn(w.ports[entrypoint]) as c:
        c.request("GET", marker, host=host, headers=list(headers))
        r = c.read_response()
    assert r is not None
    got = app.wait_requests(lambda q: q.target == marker, 1, timeout=2 if r.status == 200 else 0.3)
    return r, got


def passes(env, host, **kw):
    r, got = send(env, host, **kw)
    assert r.status == 200, r
    assert len(got) == 1
    return got[0]


def refused(env, host, status=403, **kw):
    r, got = send(env, host, **kw)
    assert r.status == status, r
    assert got == [], "a refused request reached the backend"
    return r


# ---- sourceRange and the reject answer ----------------------------------------------------


def test_loopback_client_in_range_passes(env):
    passes(env, "loop.example")


def test_client_out_of_range_gets_403_with_status_text(env):
    r = refused(env, "far.example")
    assert r.body == b"Forbidden"
    assert r.header("Content-Type", "").startswith("text/plain")


def test_reject_status_code(env):
    r = refused(env, "far401.example", status=401)
    assert r.body == b"Unauthorized"


def test_v2_ipwhitelist_name(env):
    passes(env, "v2loop.example")
    assert refused(env, "v2far.example").body == b"Forbidden"


def test_chain_of_allow_lists_applies_every_member(env):
    # loop lets 127.0.0.1 through, far does not: the chain refuses
    assert refused(env, "guard.example").body == b"Forbidden"


# ---- which address is checked -------------------------------------------------------------


@pytest.mark.parametrize("entrypoint", ["web", "lb"])
def test_default_strategy_ignores_x_forwarded_for(env, entrypoint):
    """Without ipStrategy the socket's address decides, even from a trusted peer."""
    refused(env, "far.example", entrypoint=entrypoint,
            headers=[("X-Forwarded-For", "10.1.2.3"), ("X-Real-IP", "10.1.2.3")])
    passes(env, "loop.example", entrypoint=entrypoint,
           headers=[("X-Forwarded-For", "10.1.2.3"), ("X-Real-IP", "10.1.2.3")])


def test_16_spoofed_client_headers_do_not_pass_the_list(env):
    """HARDENING 16 where the allow list is concerned: none of the client-IP headers, in any
    spelling, makes an out-of-range client acceptable."""
    spoof = [("X-Forwarded-For", "10.0.0.1"), ("X-Real-IP", "10.0.0.1"),
             ("X_Forwarded_For", "10.0.0.1"), ("X_Real_Ip", "10.0.0.1"),
             ("Forwarded", "for=10.0.0.1"), ("X-Forwarded-For", "2001:db8::1")]
    refused(env, "far.example", headers=spoof)
    # 17: listing them in Connection does not change the decision either
    refused(env, "far.example",
            headers=[("Connection", "close, X-Forwarded-For, x-real-ip")] + spoof)


def test_depth_from_a_trusted_load_balancer(env):
    passes(env, "depth1.example", entrypoint="lb", headers=[("X-Forwarded-For", "10.9.9.9")])
    refused(env, "depth1.example", entrypoint="lb", headers=[("X-Forwarded-For", "8.8.8.8")])
    refused(env, "depth1.example", entrypoint="lb",
            headers=[("X-Forwarded-For", "10.9.9.9, 8.8.8.8")])
    # no header: "" is never in range, whatever the socket says
    refused(env, "depth1.example", entrypoint="lb")
    # depth 2 is the second item from the right
    passes(env, "depth2.example", entrypoint="lb",
           headers=[("X-Forwarded-For", "10.9.9.9, 8.8.8.8")])
    refused(env, "depth2.example", entrypoint="lb", headers=[("X-Forwarded-For", "10.9.9.9")])


def test_excluded_ips_from_a_trusted_load_balancer(env):
    passes(env, "pool.example", entrypoint="lb",
           headers=[("X-Forwarded-For", "8.8.8.8, 192.168.4.4, 10.1.1.1, 10.2.2.2")])
    refused(env, "pool.example", entrypoint="lb",
            headers=[("X-Forwarded-For", "192.168.4.4, 8.8.8.8, 10.1.1.1")])
    refused(env, "pool.example", entrypoint="lb", headers=[("X-Forwarded-For", "10.1.1.1")])


def test_depth_ignores_x_forwarded_for_from_an_untrusted_client(env):
    refused(env, "depth1.example", entrypoint="web", headers=[("X-Forwarded-For", "10.9.9.9")])


# ---- HARDENING 14 -------------------------------------------------------------------------

H14_TARGETS = [
    "/pub/../admin", "/pub/%2e%2e/admin", "/pub/%2E%2E/admin", "/pub/.%2e/admin",
    "/pub/%2e./admin/x", "/admin%2F", "/admin%2f..", "/admin%5C", "/admin%5c..%5c",
    "/admin%00", "/admin%3B", "/admin;x", "//admin", "///admin/", "/./admin", "/%2e/admin",
    "/pub/./../admin", "/pub/x/../../admin", "/pub/..%2Fadmin", "/pub/..%2fadmin",
    "/pub/..%5Cadmin", "/pub/..\\admin", "/pub/..;/admin", "/pub/%2e%2e;/admin",
    "/pub/..%3B/admin", "/pub/%00/../../admin", "/pub/../../../admin", "/%61dmin",
]


def normalise(path):
    """RFC 3986 normalisation as a backend would apply it: every escape but %2F decoded, dot
    segments resolved, empty segments collapsed."""
    decoded = re.sub(r"%(?!2[fF])[0-9A-Fa-f]{2}", lambda m: unquote(m.group(0)), path)
    out = []
    for seg in decoded.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return "/" + "/".join(out)


def h14_request(env, target):
    """Sends target to h14.example; returns (status, the path the pub backend got or None).
    The admin backend must never be reached."""
    w, _, pub, admin = env
    pub.clear()
    admin.clear()
    with RawConn(w.ports["web"]) as c:
        c.send(f"GET {target} HTTP/1.1\r\nHost: h14.example\r\n\r\n".encode())
        r = c.read_response()
    assert r is not None
    # either the allow list answered, the request was refused outright, or /pub served it
    assert r.status in (200, 400, 403, 404), (target, r)
    seen = None
    if r.status == 200:
        got = pub.wait_requests(lambda q: True, 1, timeout=2)
        assert len(got) == 1, (target, pub.log())
        seen = got[0].target.split("?")[0]
    time.sleep(0.05)
    assert admin.log() == [], (target, admin.log())
    return r.status, seen


@pytest.mark.parametrize("target", H14_TARGETS)
def test_14_path_spellings_cannot_bypass_the_admin_allow_list(env, target):
    status, seen = h14_request(env, target)
    if status == 200:
        assert normalise(seen).startswith("/pub/") or normalise(seen) == "/pub", (target, seen)


@pytest.mark.parametrize("target", ["/pub/..%5Cadmin", "/pub/..%5cadmin"])
def test_14_encoded_backslash_reaches_the_backend_encoded(env, target):
    status, seen = h14_request(env, target)
    if status == 200:
        assert "\\" not in seen, (target, seen)


def test_14_the_allow_list_protects_admin(env):
    """The control for the matrix above: /admin itself is refused, /pub served."""
    w, _, pub, admin = env
    with RawConn(w.ports["web"]) as c:
        c.request("GET", "/admin", host="h14.example")
        assert c.read_response().status == 403
        c.request("GET", "/pub/ok", host="h14.example")
        assert c.read_response().status == 200
    assert admin.log() == []


# ---- HARDENING 18: IPv4-mapped client on a dual-stack socket ------------------------------


def _listeners(port):
    """(IPv4 listeners, IPv6 listeners) on port, from /proc/net/tcp{,6}."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        n = 0
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                    n += 1
        found.append(n)
    return tuple(found)


def _v6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _v6_available(), reason="no IPv6 on this host")
def test_18_v4_mapped_client_matches_its_ipv4_entry(wharf, backends, tmp_path):
    app = backends.http("app")
    port, ping_port = free_port(), free_port()
    dynamic = {"http": {
        "routers": {
            "in": {"rule": "Host(`in.example`)", "service": "app", "middlewares": ["v4"]},
            "out": {"rule": "Host(`out.example`)", "service": "app", "middlewares": ["other"]},
        },
        "middlewares": {"v4": {"ipAllowList": {"sourceRange": ["127.0.0.1"]}},
                        "other": {"ipAllowList": {"sourceRange": ["127.0.0.2/32"]}}},
        "services": {"app": lb_service(app.url)}}}
    dyn = wharf.write("dual.dynamic.yml", dynamic)
    # The launcher puts entry points on 127.0.0.1; this one must be the IPv6 wildcard, which
    # on Linux (bindv6only=0) also accepts IPv4 clients, as ::ffff:a.b.c.d.
    conf = wharf.write("dual.yml", {
        "entryPoints": {"dual": {"address": f"[::]:{port}"},
                        "traefik": {"address": f"127.0.0.1:{ping_port}"}},
        "ping": {},
        "providers": {"file": {"filename": str(dyn)}},
        "log": {"level": "INFO"}})
    w = WharfProcess(wharf.binary, wharf.workdir, conf, {"dual": port, "traefik": ping_port},
                     f"http://127.0.0.1:{ping_port}/ping")
    wharf.procs.append(w)  # stopped and checked for sanitizer reports at teardown
    w.wait_ready()

    def status(host):
        try:
            with RawConn(port, host="127.0.0.1") as c:
                c.request("GET", "/echo", host=host)
                r = c.read_response()
                return r.status if r else None
        except OSError:
            return None

    wait_until(lambda: status("in.example") not in (None, 404), timeout=15)
    with open("/proc/sys/net/ipv6/bindv6only") as f:
        v6only = f.read().strip() != "0"
    v4, v6 = _listeners(port)
    if v6only or v4:
        pytest.skip("the entry point is not a single dual-stack socket on this host")
    assert v6 >= 1
    # only an IPv6 socket listens on the port, so this IPv4 client is ::ffff:127.0.0.1
    assert status("in.example") == 200
    assert status("out.example") == 403
    got = app.wait_requests(lambda q: q.header("X-Real-Ip") is not None, 1, timeout=5)
    assert got and got[0].header("X-Real-Ip") == "127.0.0.1"
