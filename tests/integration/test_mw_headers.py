"""The headers middleware through the real binary (TRAEFIK-COMPAT §4 "headers"): HSTS on
HTTPS responses only (issue 6, HARDENING 25) with the exact middleware our users run, custom
request/response headers (a backend header removed), the CORS preflight answered without the
backend, allowedHosts answering 500 "Bad Host", the security headers, and the Traefik v2
redirect options failing closed.

Middlewares are defined in the file provider's dynamic configuration and used from routers,
as users write them. HTTPS uses a certificate made by tlsutil.CA."""

import json

import pytest

from backends import RawConn, _Reader, lb_service, wait_routed
from tlsutil import CA, client_context

HSTS = "max-age=31536000; includeSubDomains; preload"


@pytest.fixture(scope="module")
def env(module_wharf, module_backends, tmp_path_factory):
    ca = CA(tmp_path_factory.mktemp("pki") / "ca")
    cert, key = ca.issue("hsts.example", sans=["hsts.example", "sec.example"])
    bk = module_backends.http("echo")
    middlewares = {
        # exactly what users run today
        "hsts": {"headers": {"stsSeconds": 31536000, "stsIncludeSubdomains": True,
                             "stsPreload": True}},
        "custom": {"headers": {
            "customResponseHeaders": {"X-Backend": "", "X-Added": "yes"},
            "customRequestHeaders": {"X-Script-Name": "test", "User-Agent": "",
                                     "X-Forwarded-For": ""},
        }},
        "rehost": {"headers": {"customRequestHeaders": {"Host": "rewritten.example"}}},
        "cors": {"headers": {
            "accessControlAllowMethods": ["GET", "OPTIONS", "PUT"],
            "accessControlAllowHeaders": ["X-Token"],
            "accessControlAllowOriginList": ["https://app.example"],
            "accessControlMaxAge": 100,
            "accessControlAllowCredentials": True,
            "accessControlExposeHeaders": ["X-Conn-Id"],
            "addVaryHeader": True,
        }},
        "hosts": {"headers": {"allowedHosts": ["allowed.example"],
                              "hostsProxyHeaders": ["X-Original-Host", "X-Forwarded-Host"]}},
        "sec": {"headers": {
            "frameDeny": True, "contentTypeNosniff": True, "browserXssFilter": True,
            "contentSecurityPolicy": "default-src 'self'", "referrerPolicy": "no-referrer",
            "permissionsPolicy": "camera=()", "publicKey": "pin-sha256=\"abc=\"; max-age=5",
        }},
        "sslproxy": {"headers": {"stsSeconds": 60,
                                 "sslProxyHeaders": {"X-Forwarded-Ssl": "on",
                                                     "X-Forwarded-Proto": "https"}}},
        "v2redirect": {"headers": {"sslRedirect": True}},
    }

    def r(rule, mws, ep="web"):
        d = {"rule": rule, "service": "echo", "entryPoints": [ep], "middlewares": mws}
        if ep == "websecure":
            d["tls"] = {}
        return d

    routers = {
        "hsts-web": r("Host(`hsts.example`)", ["hsts"]),
        "hsts-tls": r("Host(`hsts.example`)", ["hsts"], "websecure"),
        "sec-web": r("Host(`sec.example`)", ["sec"]),
        "sec-tls": r("Host(`sec.example`)", ["sec"], "websecure"),
        "custom": r("Host(`custom.example`)", ["custom"]),
        "rehost": r("Host(`rehost.example`)", ["rehost"]),
        "cors": r("Host(`cors.example`)", ["cors"]),
        "hosts": r("PathPrefix(`/hosts`)", ["hosts"]),
        "sslproxy": r("Host(`sslproxy.example`)", ["sslproxy"]),
        "sslproxy-trusted": r("Host(`sslproxy.example`)", ["sslproxy"], "trusted"),
        "v2": r("Host(`v2.example`)", ["v2redirect"]),
    }
    dynamic = {
        "http": {"routers": routers, "middlewares": middlewares,
                 "services": {"echo": lb_service(bk.url)}},
        "tls": {"certificates": [{"certFile": str(cert), "keyFile": str(key)}]},
    }
    w = module_wharf.start({"api": {"insecure": True}, "ping": {},
                            "entryPoints": {"web": {}, "websecure": {},
                                            "trusted": {"forwardedHeaders": {
                                                "trustedIPs": ["127.0.0.1/32", "::1"]}}}},
                           dynamic=dynamic)
    for host in ("hsts.example", "custom.example", "cors.example", "sslproxy.example",
                 "sec.example", "rehost.example"):
        wait_routed(w, host)
    wait_routed(w, "allowed.example", "/hosts")
    return {"w": w, "bk": bk, "ca": ca}


def send(env, method, target, host, headers=(), port=None):
    with RawConn(port or env["w"].ports["web"]) as c:
        c.request(method, target, host=host, headers=list(headers))
        r = c.read_response(head=(method == "HEAD"))
        assert r is not None, f"no response to {method} {host}{target}"
        return r


def send_tls(env, target, host, headers=()):
    """One request over TLS (SNI = host), verified against the test CA."""
    w = env["w"]
    c = RawConn.__new__(RawConn)
    raw = RawConn(w.ports["websecure"]).sock
    c.sock = client_context(ca=env["ca"].cert).wrap_socket(raw, server_hostname=host)
    c.rd = _Reader(c.sock)
    with c:
        c.request("GET", target, host=host, headers=list(headers))
        r = c.read_response()
        assert r is not None
        return r


def received(r):
    """The request the echo backend saw, from its JSON answer."""
    body = json.loads(r.body)
    return body, {k.lower(): v for k, v in body["headers"]}


# ---- HSTS (issue 6, HARDENING 25) ----------------------------------------------------------

def test_hsts_present_on_https_responses(env):
    r = send_tls(env, "/echo", "hsts.example")
    assert r.status == 200
    assert r.header_all("Strict-Transport-Security") == [HSTS]
    # the backend's own answer went through
    assert received(r)[0]["backend"] == "echo"


def test_hsts_absent_on_plain_http(env):
    r = send(env, "GET", "/echo", "hsts.example")
    assert r.status == 200
    assert r.header("Strict-Transport-Security") is None


def test_hsts_through_ssl_proxy_header_but_not_a_spoofed_forwarded_proto(env):
    r = send(env, "GET", "/echo", "sslproxy.example", [("X-Forwarded-Ssl", "on")])
    assert r.header("Strict-Transport-Security") == "max-age=60"
    # X-Forwarded-Proto from a client that is not a trusted proxy is rebuilt from the socket
    for name in ("X-Forwarded-Proto", "X_Forwarded_Proto"):
        r = send(env, "GET", "/echo", "sslproxy.example", [(name, "https")])
        assert r.status == 200
        assert r.header("Strict-Transport-Security") is None, name


def test_hsts_through_forwarded_proto_from_a_trusted_proxy(env):
    """Behind a trusted load balancer that terminates TLS, its X-Forwarded-Proto counts."""
    r = send(env, "GET", "/echo", "sslproxy.example", [("X-Forwarded-Proto", "https")],
             port=env["w"].ports["trusted"])
    assert r.status == 200
    assert r.header("Strict-Transport-Security") == "max-age=60"


# ---- custom headers --------------------------------------------------------------------------

def test_custom_response_header_removes_a_backend_header(env):
    env["bk"].clear()
    r = send(env, "GET", "/echo", "custom.example")
    assert r.status == 200
    assert env["bk"].log(), "the backend was called"
    assert r.header("X-Backend") is None  # the echo backend sends it on every answer
    assert r.header("X-Conn-Id") is not None  # others are untouched
    assert r.header("X-Added") == "yes"


def test_custom_request_headers_reach_the_backend(env):
    r = send(env, "GET", "/echo", "custom.example",
             [("X-Script-Name", "client"), ("User-Agent", "curl/8"), ("X-Forwarded-For", "1.2.3.4")])
    _, h = received(r)
    assert h["x-script-name"] == "test"
    assert "user-agent" not in h
    # an empty X-Forwarded-For suppresses it altogether
    assert "x-forwarded-for" not in h


def test_custom_request_host_rewrites_the_backend_host(env):
    r = send(env, "GET", "/echo", "rehost.example")
    assert r.status == 200
    _, h = received(r)
    assert h["host"] == "rewritten.example"
    # X-Forwarded-Host is the entry point's, from before the middleware
    assert h["x-forwarded-host"] == "rehost.example"


# ---- CORS ------------------------------------------------------------------------------------

def test_cors_preflight_is_answered_without_the_backend(env):
    env["bk"].clear()
    r = send(env, "OPTIONS", "/echo", "cors.example",
             [("Origin", "https://app.example"), ("Access-Control-Request-Method", "PUT"),
              ("Access-Control-Request-Headers", "X-Token")])
    assert r.status == 200
    assert r.header("Content-Length") == "0"
    assert r.body == b""
    assert r.header("Access-Control-Allow-Origin") == "https://app.example"
    assert r.header("Access-Control-Allow-Methods") == "GET,OPTIONS,PUT"
    assert r.header("Access-Control-Allow-Headers") == "X-Token"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Max-Age") == "100"
    assert r.header("X-Backend") is None
    assert env["bk"].log() == []


def test_cors_simple_request_gets_origin_credentials_and_vary(env):
    r = send(env, "GET", "/echo", "cors.example", [("Origin", "https://app.example")])
    assert r.status == 200
    assert r.header("X-Backend") == "echo"
    assert r.header("Access-Control-Allow-Origin") == "https://app.example"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Expose-Headers") == "X-Conn-Id"
    assert r.header("Vary") == "Origin"
    assert r.header("Access-Control-Allow-Methods") is None


def test_cors_unknown_origin_gets_no_allow_origin(env):
    env["bk"].clear()
    r = send(env, "OPTIONS", "/echo", "cors.example",
             [("Origin", "https://evil.example"), ("Access-Control-Request-Method", "GET")])
    assert r.status == 200 and env["bk"].log() == []
    assert r.header("Access-Control-Allow-Origin") is None
    r = send(env, "GET", "/echo", "cors.example", [("Origin", "null")])
    assert r.status == 200
    assert r.header("Access-Control-Allow-Origin") is None


def test_plain_options_reaches_the_backend(env):
    env["bk"].clear()
    r = send(env, "OPTIONS", "/echo", "cors.example", [("Origin", "https://app.example")])
    assert r.header("X-Backend") == "echo"
    assert [q.method for q in env["bk"].log()] == ["OPTIONS"]


# ---- allowedHosts ----------------------------------------------------------------------------

def test_allowed_hosts_mismatch_is_500_bad_host(env):
    env["bk"].clear()
    for host in ("evil.example", "allowed.example:8080"):
        r = send(env, "GET", "/hosts", host)
        assert r.status == 500, host
        assert r.body == b"Bad Host\n"
        assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert env["bk"].log() == []


def test_allowed_hosts_match_is_case_insensitive(env):
    r = send(env, "GET", "/hosts", "ALLOWED.Example")
    assert r.status == 200 and r.header("X-Backend") == "echo"


def test_hosts_proxy_headers(env):
    r = send(env, "GET", "/hosts", "evil.example", [("X-Original-Host", "allowed.example")])
    assert r.status == 200
    # X-Forwarded-Host from an untrusted client is its Host: it cannot smuggle an allowed name
    r = send(env, "GET", "/hosts", "evil.example", [("X-Forwarded-Host", "allowed.example")])
    assert r.status == 500 and r.body == b"Bad Host\n"


# ---- security headers ------------------------------------------------------------------------

def test_security_headers(env):
    r = send(env, "GET", "/echo", "sec.example")
    assert r.status == 200
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("X-XSS-Protection") == "1; mode=block"
    assert r.header("Content-Security-Policy") == "default-src 'self'"
    assert r.header("Referrer-Policy") == "no-referrer"
    assert r.header("Permissions-Policy") == "camera=()"
    # pins only over TLS
    assert r.header("Public-Key-Pins") is None
    r = send_tls(env, "/echo", "sec.example")
    assert r.header("Public-Key-Pins") == "pin-sha256=\"abc=\"; max-age=5"
    assert r.header("X-Frame-Options") == "DENY"


# ---- what the runtime does not implement: fail closed -----------------------------------------

def test_v2_ssl_redirect_fails_closed(env):
    env["bk"].clear()
    for _ in range(2):
        r = send(env, "GET", "/echo", "v2.example")
        assert r.status == 500
        assert r.header("Location") is None
    assert env["bk"].log() == []
    log = env["w"].log()
    assert log.count("sslRedirect/sslTemporaryRedirect") == 1, "logged once"
