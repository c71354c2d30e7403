"""redirectScheme, redirectRegex and stripPrefix through the binary (TRAEFIK-COMPAT §4): the
status by method and permanence, Location and status-text body; the port rules; no redirect
loop on an HTTPS entry point (a target equal to the current URL passes); X-Forwarded-Proto
believed only from a trusted peer (HARDENING 16) and never by redirectRegex; and the path the
echo backend receives after stripPrefix, with X-Forwarded-Prefix (HARDENING 15 for a result
with a dot segment)."""

import json
import time
from urllib.parse import urlsplit

import pytest

from backends import RawConn, _Reader, lb_service
from tlsutil import CA, client_context

HOSTS = ("tohttps.example", "perm.example", "port.example", "p443.example", "both.example",
         "regex.example", "rperm.example", "canon.example", "www.canon.example",
         "anyurl.example", "strip.example")


@pytest.fixture(scope="module")
def env(module_wharf, module_backends, tmp_path_factory):
    ca = CA(tmp_path_factory.mktemp("pki") / "ca")
    cert, key = ca.issue("tohttps.example", sans=list(HOSTS))
    bk = module_backends.http("echo")
    mws = {
        "tohttps": {"redirectScheme": {"scheme": "https"}},
        "perm": {"redirectScheme": {"scheme": "https", "permanent": True}},
        "port": {"redirectScheme": {"scheme": "https", "port": "8443"}},
        "p443": {"redirectScheme": {"scheme": "https", "port": "443"}},
        # port filled in with the HTTPS entry point's once it is known
        "both": {"redirectScheme": {"scheme": "https", "port": "0"}},
        "regex": {"redirectRegex": {"regex": "^http://([^/]+)/old/(.*)",
                                    "replacement": "http://${1}/new/${2}"}},
        "rperm": {"redirectRegex": {"regex": "^http://rperm\\.example/(.*)",
                                    "replacement": "https://elsewhere.example/$1",
                                    "permanent": True}},
        "canon": {"redirectRegex": {"regex": "^https?://(?:www\\.)?canon\\.example/(.*)",
                                    "replacement": "http://canon.example/${1}"}},
        "anyurl": {"redirectRegex": {"regex": "^http://(.*)", "replacement": "https://$1"}},
        "strip": {"stripPrefix": {"prefixes": ["/nope", "/api", "/api/v1"]}},
    }

    routers = {}
    for name in mws:
        plain = {"rule": f"Host(`{name}.example`)", "service": "echo", "middlewares": [name],
                 "entryPoints": ["web", "trusted"]}
        routers[name] = plain
        routers[f"{name}-tls"] = dict(plain, entryPoints=["websecure"], tls={})
    for k in ("canon", "canon-tls"):
        routers[k]["rule"] = "Host(`canon.example`) || Host(`www.canon.example`)"
    static = {"ping": {}, "entryPoints": {
        "web": {}, "websecure": {},
        "trusted": {"forwardedHeaders": {"trustedIPs": ["127.0.0.1/32", "::1"]}}}}
    dynamic = {"http": {"routers": routers, "middlewares": mws,
                        "services": {"echo": lb_service(bk.url)}},
               "tls": {"certificates": [{"certFile": str(cert), "keyFile": str(key)}]}}
    w = module_wharf.start(static, dynamic=dynamic)
    tls_port = w.ports["websecure"]
    mws["both"]["redirectScheme"]["port"] = str(tls_port)
    module_wharf.write("traefik.dynamic.yml", dynamic)
    # the configuration is applied asynchronously (and wait_routed would follow redirects)
    deadline = time.monotonic() + 15
    for name in mws:
        want = f"https://both.example:{tls_port}/x" if name == "both" else None
        while True:
            r_ = send({"w": w}, "GET", "/x", f"{name}.example")
            if r_.status != 404 and (want is None or r_.header("Location") == want):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{name}.example not routed: {r_} {w.log_tail()}")
            time.sleep(0.05)
    return {"w": w, "bk": bk, "tls_port": tls_port}


def send(env, method, target, host, headers=(), ep="web", body=None):
    w = env["w"]
    with RawConn(w.ports[ep]) as c:
        c.request(method, target, host=host, headers=list(headers), body=body)
        r = c.read_response(head=(method == "HEAD"))
        assert r is not None, f"no response to {method} {host}{target}"
        return r


def send_tls(env, method, target, host, headers=()):
    """One request to the HTTPS entry point, SNI = host without its port."""
    w = env["w"]
    c = RawConn.__new__(RawConn)
    raw = RawConn(w.ports["websecure"]).sock
    c.sock = client_context().wrap_socket(raw, server_hostname=host.split(":")[0])
    c.rd = _Reader(c.sock)
    with c:
        c.request(method, target, host=host, headers=list(headers))
        r = c.read_response()
        assert r is not None
        return r


def echoed(r):
    """The request the echo backend saw: (target, {lower-case name: [values]})."""
    assert r.status == 200, r
    body = json.loads(r.body)
    hdrs = {}
    for k, v in body["headers"]:
        hdrs.setdefault(k.lower(), []).append(v)
    return body["target"], hdrs


def redirected(r, status, location):
    assert r.status == status, r
    assert r.header("Location") == location
    # body = the status text (Go's http.StatusText)
    assert r.body.decode() == r.reason == {301: "Moved Permanently", 302: "Found",
                                           307: "Temporary Redirect",
                                           308: "Permanent Redirect"}[status]


# ---- redirectScheme ------------------------------------------------------------------------

def test_scheme_http_to_https_keeps_uri(env):
    env["bk"].clear()
    r = send(env, "GET", "/a/b%2Fc?x=1&y", "tohttps.example")
    redirected(r, 302, "https://tohttps.example/a/b%2Fc?x=1&y")
    assert env["bk"].log() == []


def test_scheme_status_by_method_and_permanence(env):
    redirected(send(env, "POST", "/f", "tohttps.example", body=b"data"), 307,
               "https://tohttps.example/f")
    redirected(send(env, "GET", "/f", "perm.example"), 301, "https://perm.example/f")
    redirected(send(env, "PUT", "/f", "perm.example", body=b"x"), 308, "https://perm.example/f")
    redirected(send(env, "DELETE", "/f", "perm.example"), 308, "https://perm.example/f")


def test_scheme_port_rules(env):
    # the configured port is added; the client's port is dropped
    redirected(send(env, "GET", "/x", "port.example:8080"), 302, "https://port.example:8443/x")
    redirected(send(env, "GET", "/x", "port.example"), 302, "https://port.example:8443/x")
    # 443 for https is the default: left out
    redirected(send(env, "GET", "/x", "p443.example:8080"), 302, "https://p443.example/x")
    # no port configured: the original one is dropped
    redirected(send(env, "GET", "/x", "tohttps.example:8080"), 302, "https://tohttps.example/x")


def test_scheme_on_https_entrypoint_does_not_loop(env):
    """The same router on the HTTP and the HTTPS entry point: the client is sent to HTTPS once
    and then served, never redirected to where it already is."""
    port = env["tls_port"]
    r = send(env, "GET", "/deep/path?q=1", f"both.example:{env['w'].ports['web']}")
    redirected(r, 302, f"https://both.example:{port}/deep/path?q=1")
    loc = urlsplit(r.header("Location"))
    r2 = send_tls(env, "GET", f"{loc.path}?{loc.query}", loc.netloc)
    target, _ = echoed(r2)
    assert target == "/deep/path?q=1"
    # redirectScheme https without a port on the HTTPS entry point, default port or none
    assert echoed(send_tls(env, "GET", "/x", "tohttps.example"))[0] == "/x"
    assert echoed(send_tls(env, "GET", "/x", "tohttps.example:443"))[0] == "/x"
    assert echoed(send_tls(env, "POST", "/x", "perm.example"))[0] == "/x"
    # ...but on another port it is sent to the default one, as Traefik does
    redirected(send_tls(env, "GET", "/x", f"tohttps.example:{port}"), 302,
               "https://tohttps.example/x")


def test_scheme_untrusted_forwarded_proto_does_not_skip(env):
    """A client cannot claim it came over HTTPS (HARDENING 16)."""
    for v in ("https", "wss", "HTTPS"):
        redirected(send(env, "GET", "/x", "tohttps.example", [("X-Forwarded-Proto", v)]), 302,
                   "https://tohttps.example/x")


def test_scheme_trusted_forwarded_proto(env):
    """Behind a trusted TLS-terminating proxy: https (and wss, for WebSocket upgrades) is
    already secure; http / ws / an unknown value are redirected."""
    for v in ("https", "wss"):
        target, _ = echoed(send(env, "GET", "/x", "tohttps.example", [("X-Forwarded-Proto", v)],
                                ep="trusted"))
        assert target == "/x"
    for v in ("http", "ws", "bogus"):
        redirected(send(env, "GET", "/x", "tohttps.example", [("X-Forwarded-Proto", v)],
                        ep="trusted"), 302, "https://tohttps.example/x")
    redirected(send(env, "GET", "/x", "tohttps.example", ep="trusted"), 302,
               "https://tohttps.example/x")


# ---- redirectRegex -------------------------------------------------------------------------

def test_regex_redirect_with_groups(env):
    env["bk"].clear()
    redirected(send(env, "GET", "/old/a/b?c=d", "regex.example"), 302,
               "http://regex.example/new/a/b?c=d")
    redirected(send(env, "POST", "/old/z", "regex.example", body=b"1"), 307,
               "http://regex.example/new/z")
    # the Host port is part of the URL matched
    redirected(send(env, "GET", "/old/z", "regex.example:8080"), 302,
               "http://regex.example:8080/new/z")
    assert env["bk"].log() == []


def test_regex_permanent(env):
    redirected(send(env, "GET", "/p?q", "rperm.example"), 301, "https://elsewhere.example/p?q")
    redirected(send(env, "POST", "/p", "rperm.example", body=b"1"), 308,
               "https://elsewhere.example/p")


def test_regex_no_match_passes(env):
    target, _ = echoed(send(env, "GET", "/new/x", "regex.example"))
    assert target == "/new/x"
    # over TLS the URL is https://..., which ^http:// does not match
    assert echoed(send_tls(env, "GET", "/p", "rperm.example"))[0] == "/p"


def test_regex_target_equal_to_url_passes(env):
    """A rule that maps the canonical URL onto itself must not redirect it to itself."""
    assert echoed(send(env, "GET", "/x?y=1", "canon.example"))[0] == "/x?y=1"
    redirected(send(env, "GET", "/x?y=1", "www.canon.example"), 302,
               "http://canon.example/x?y=1")
    redirected(send_tls(env, "GET", "/x", "canon.example"), 302, "http://canon.example/x")


def test_regex_ignores_forwarded_proto(env):
    """Traefik's redirectRegex sees the connection's scheme, whatever X-Forwarded-Proto says
    and whoever sent it."""
    for ep in ("web", "trusted"):
        redirected(send(env, "GET", "/p", "anyurl.example", [("X-Forwarded-Proto", "https")],
                        ep=ep), 302, "https://anyurl.example/p")


# ---- stripPrefix ---------------------------------------------------------------------------

def test_strip_prefix_echo_sees_stripped_path(env):
    target, h = echoed(send(env, "GET", "/api/v1/users?id=3", "strip.example"))
    # "/api" is listed before "/api/v1": the first match wins
    assert target == "/v1/users?id=3"
    assert h["x-forwarded-prefix"] == ["/api"]


def test_strip_prefix_leading_slash_kept(env):
    target, h = echoed(send(env, "GET", "/api", "strip.example"))
    assert target == "/"
    assert h["x-forwarded-prefix"] == ["/api"]
    # a plain string prefix: "/apix" loses "/api" and gets its '/' back
    assert echoed(send(env, "GET", "/apix/y", "strip.example"))[0] == "/x/y"
    assert echoed(send(env, "GET", "/api/x/", "strip.example"))[0] == "/x/"


def test_strip_prefix_no_match_unchanged(env):
    target, h = echoed(send(env, "GET", "/other/api?z", "strip.example"))
    assert target == "/other/api?z"
    assert "x-forwarded-prefix" not in h


def test_strip_prefix_replaces_client_forwarded_prefix(env):
    for ep in ("web", "trusted"):
        target, h = echoed(send(env, "GET", "/api/x", "strip.example",
                                [("X-Forwarded-Prefix", "/evil")], ep=ep))
        assert target == "/x"
        assert h["x-forwarded-prefix"] == ["/api"]


def test_strip_prefix_dot_segment_result_refused(env):
    """"/api.." stripped of "/api" would reach the backend as "/..": 400 instead."""
    env["bk"].clear()
    for path in ("/api../secret", "/api..", "/api./x"):
        r = send(env, "GET", path, "strip.example")
        assert r.status == 400, (path, r)
    assert env["bk"].log() == []
    # dots inside a name are fine
    assert echoed(send(env, "GET", "/api.v2/x", "strip.example"))[0] == "/.v2/x"
