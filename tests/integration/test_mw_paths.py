"""Path middlewares through the binary (TRAEFIK-COMPAT §4): stripPrefixRegex, addPrefix,
replacePath, replacePathRegex and chain, as the backend sees the request (target and headers);
and HARDENING 15: a rewrite that yields `..` or `%2e` segments is refused (400, Traefik's own
check for the regex middlewares) or, for replacePath whose result comes from the configuration
alone, re-normalised, so the backend never gets a path that escapes what was routed. HARDENING
14 (normalisation before routing) is in test_mw_ipallowlist.py with an allow-listed /admin."""

import itertools

import pytest

from backends import RawConn, lb_service, wait_routed

_seq = itertools.count(1)


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    b = module_backends.http("origin")
    mws = {
        "strip": {"stripPrefixRegex": {"regex": ["/api/v[0-9]+", "/other"]}},
        "strippub": {"stripPrefixRegex": {"regex": ["/pub"]}},
        "add": {"addPrefix": {"prefix": "/v1"}},
        "replace": {"replacePath": {"path": "/fixed/place"}},
        "replacedots": {"replacePath": {"path": "/svc/%2e%2e/internal/./x"}},
        "rx": {"replacePathRegex": {"regex": "^/old/(.*)", "replacement": "/new/${1}"}},
        "rxdots": {"replacePathRegex": {"regex": "^/rx/([^/]*)-(.*)",
                                        "replacement": "/srv/$1/$2"}},
        "rxbad": {"replacePathRegex": {"regex": "^/rx/(.*)", "replacement": "/srv/%2e%2e/$1"}},
        "both": {"chain": {"middlewares": ["strip", "add@file"]}},
        "outer": {"chain": {"middlewares": ["both", "rx"]}},
    }
    routers = {}
    for name in mws:
        routers[name] = {"rule": f"Host(`{name}.example`)", "service": "origin",
                         "middlewares": [name], "entryPoints": ["web"]}
    routers["strippub"]["rule"] = "Host(`strippub.example`) && PathPrefix(`/pub`)"
    # an entry point that leaves paths as received: addPrefix must not let dots through
    routers["rawadd"] = {"rule": "Host(`add.example`)", "service": "origin",
                         "middlewares": ["add"], "entryPoints": ["raw"]}
    static = {"ping": {}, "entryPoints": {"web": {}, "raw": {"http": {"sanitizePath": False}}}}
    dynamic = {"http": {"routers": routers, "middlewares": mws,
                        "services": {"origin": lb_service(b.url)}}}
    w = module_wharf.start(static, dynamic=dynamic)
    wait_routed(w, "strippub.example", "/pub/x")
    for name in mws:
        if name != "strippub":
            wait_routed(w, f"{name}.example")
    wait_routed(w, "add.example", entrypoint="raw")
    return w, b


def send(env, host, target, headers=(), entrypoint="web"):
    """Returns (response, the requests the backend got, at most one)."""
    w, b = env
    b.clear()
    tag = f"x-seq-{next(_seq)}"
    with RawConn(w.ports[entrypoint]) as c:
        c.send((f"GET {target} HTTP/1.1\r\nHost: {host}\r\nX-Seq: {tag}\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode())
        r = c.read_response()
    assert r is not None
    got = b.wait_requests(lambda q: q.header("X-Seq") == tag, 1,
                          timeout=2 if r.status == 200 else 0.3)
    return r, got


def forwarded(env, host, target, **kw):
    r, got = send(env, host, target, **kw)
    assert r.status == 200, r
    assert len(got) == 1
    return got[0]


def refused(env, host, target, status=400, **kw):
    r, got = send(env, host, target, **kw)
    assert r.status == status, (target, r)
    assert got == [], f"{target} reached the backend as {got[0].target}"
    return r


# ---- behaviour -----------------------------------------------------------------------------


def test_strip_prefix_regex(env):
    q = forwarded(env, "strip.example", "/api/v2/users?id=3")
    assert q.target == "/users?id=3"
    assert q.header("X-Forwarded-Prefix") == "/api/v2"
    # the second regex of the list
    q = forwarded(env, "strip.example", "/other/thing")
    assert q.target == "/thing"
    assert q.header("X-Forwarded-Prefix") == "/other"
    # no match: untouched, and no X-Forwarded-Prefix
    q = forwarded(env, "strip.example", "/web/api/v2")
    assert q.target == "/web/api/v2"
    assert q.header("X-Forwarded-Prefix") is None


def test_strip_prefix_regex_header_is_the_proxys_own(env):
    q = forwarded(env, "strip.example", "/api/v7/x", headers=[("X-Forwarded-Prefix", "/evil")])
    assert q.header_all("X-Forwarded-Prefix") == ["/api/v7"]


def test_add_prefix(env):
    q = forwarded(env, "add.example", "/users/1?x=y")
    assert q.target == "/v1/users/1?x=y"
    assert forwarded(env, "add.example", "/").target == "/v1/"


def test_replace_path(env):
    q = forwarded(env, "replace.example", "/orig/path?keep=1")
    assert q.target == "/fixed/place?keep=1"
    assert q.header("X-Replaced-Path") == "/orig/path"


def test_replace_path_regex(env):
    q = forwarded(env, "rx.example", "/old/a/b?q=1")
    assert q.target == "/new/a/b?q=1"
    assert q.header("X-Replaced-Path") == "/old/a/b"
    q = forwarded(env, "rx.example", "/elsewhere")
    assert q.target == "/elsewhere"
    assert q.header("X-Replaced-Path") is None


def test_chain_runs_members_in_order(env):
    # strip /api/v3, then add /v1
    q = forwarded(env, "both.example", "/api/v3/items")
    assert q.target == "/v1/items"
    assert q.header("X-Forwarded-Prefix") == "/api/v3"
    # a chain of a chain: /old/x is not stripped, gets /v1, then no longer matches ^/old/
    assert forwarded(env, "outer.example", "/old/x").target == "/v1/old/x"


# ---- HARDENING 15 --------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/pub../admin", "/pub%2e%2e/admin", "/pub%2E%2E/admin",
                                    "/pub./admin", "/pub%2e"])
def test_15_strip_prefix_regex_leaving_dot_segments_is_refused(env, target):
    refused(env, "strippub.example", target)


def test_15_strip_prefix_regex_control(env):
    q = forwarded(env, "strippub.example", "/pub/admin")
    assert q.target == "/admin"
    assert forwarded(env, "strippub.example", "/pub..x/y").target == "/..x/y"


@pytest.mark.parametrize("target", ["/rx/..-admin", "/rx/%2e%2e-admin", "/rx/.%2E-admin",
                                    "/rx/.-admin", "/rx/x-..", "/rx/x-%2e"])
def test_15_replace_path_regex_capturing_dot_segments_is_refused(env, target):
    refused(env, "rxdots.example", target)


def test_15_replace_path_regex_control(env):
    q = forwarded(env, "rxdots.example", "/rx/v1-admin")
    assert q.target == "/srv/v1/admin"
    assert q.header("X-Replaced-Path") == "/rx/v1-admin"


def test_15_replacement_spelling_dots_as_escapes_is_refused(env):
    refused(env, "rxbad.example", "/rx/anything")


def test_15_replace_path_from_configuration_is_renormalised(env):
    q = forwarded(env, "replacedots.example", "/whatever")
    assert q.target == "/internal/x"


@pytest.mark.parametrize("target", ["/../admin", "/%2e%2e/admin", "/a/../../admin",
                                    "/./admin"])
def test_15_add_prefix_on_an_unsanitised_entry_point_refuses_dots(env, target):
    refused(env, "add.example", target, entrypoint="raw")


def test_15_add_prefix_on_an_unsanitised_entry_point_control(env):
    q = forwarded(env, "add.example", "/ok/path", entrypoint="raw")
    assert q.target == "/v1/ok/path"
