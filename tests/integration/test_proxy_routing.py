"""Routing through the proxy: each matcher of the rule language (TRAEFIK-COMPAT §3) sends a
request to exactly one backend, which names itself in `X-Backend`; requests that match no
router get the Traefik 404 and reach no backend. Priorities, explicit and by rule length, and a
router in v2 syntax are in the matrix too."""

import pytest

from backends import RawConn, lb_service, wait_routed

NAMES = ["host", "path", "prefix", "method", "header", "query", "regexp", "prio_hi", "prio_lo",
         "long", "short", "v2"]


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    bk = {n: module_backends.http(n) for n in NAMES}
    routers = {
        "host": "Host(`a.example`)",
        "path": "Host(`path.example`) && Path(`/exact`)",
        "prefix": "Host(`prefix.example`) && PathPrefix(`/products`)",
        "method": "Host(`method.example`) && Method(`POST`)",
        "header": "Host(`header.example`) && Header(`X-Tenant`, `blue`)",
        "query": "Host(`query.example`) && Query(`mode`, `fast`)",
        "regexp": "HostRegexp(`^[a-z]+\\.wild\\.example$`)",
        # An explicit priority beats the longer rule.
        "prio_hi": "Host(`prio.example`)",
        "prio_lo": "Host(`prio.example`) && PathPrefix(`/`)",
        # Without one, the longer rule wins.
        "long": "Host(`len.example`) && PathPrefix(`/api`)",
        "short": "Host(`len.example`)",
        "v2": "Host(`v2a.example`, `v2b.example`) && Path(`/items/{id:[0-9]+}`)",
    }
    dyn_routers = {}
    for n, rule in routers.items():
        dyn_routers[n] = {"rule": rule, "service": n, "entryPoints": ["web"]}
    dyn_routers["prio_hi"]["priority"] = 100
    dyn_routers["prio_lo"]["priority"] = 1
    dyn_routers["v2"]["ruleSyntax"] = "v2"
    dynamic = {
        "http": {
            "routers": dyn_routers,
            "services": {n: lb_service(b.url) for n, b in bk.items()},
        }
    }
    w = module_wharf.start({"api": {"insecure": True}, "ping": {}, "entryPoints": {"web": {}}},
                           dynamic=dynamic)
    # The dynamic configuration is applied asynchronously; wait until the last router serves.
    wait_routed(w, "v2a.example", "/items/1")
    wait_routed(w, "a.example")
    return w, bk


def send(w, method, target, host, headers=()):
    with RawConn(w.ports["web"]) as c:
        c.request(method, target, host=host, headers=list(headers),
                  body=b"" if method in ("POST", "PUT") else None)
        r = c.read_response(head=(method == "HEAD"))
        assert r is not None, f"no response to {method} {host}{target}"
        return r


CASES = [
    # (method, target, host, headers, expected backend)
    ("GET", "/", "a.example", (), "host"),
    ("GET", "/deep/path?x=1", "A.Example", (), "host"),
    ("GET", "/", "a.example:8080", (), "host"),
    ("GET", "/exact", "path.example", (), "path"),
    ("GET", "/products", "prefix.example", (), "prefix"),
    ("GET", "/products-for-sale", "prefix.example", (), "prefix"),
    ("GET", "/products/42", "prefix.example", (), "prefix"),
    ("POST", "/anything", "method.example", (), "method"),
    ("GET", "/", "header.example", (("X-Tenant", "blue"),), "header"),
    ("GET", "/?mode=fast", "query.example", (), "query"),
    ("GET", "/?a=1&mode=fast", "query.example", (), "query"),
    ("GET", "/", "foo.wild.example", (), "regexp"),
    ("GET", "/", "prio.example", (), "prio_hi"),
    ("GET", "/any/path", "prio.example", (), "prio_hi"),
    ("GET", "/api/users", "len.example", (), "long"),
    ("GET", "/web", "len.example", (), "short"),
    ("GET", "/items/42", "v2a.example", (), "v2"),
    ("GET", "/items/7", "v2b.example", (), "v2"),
]

MISSES = [
    ("GET", "/", "b.example", ()),
    ("GET", "/exact/more", "path.example", ()),
    ("GET", "/Exact", "path.example", ()),
    ("GET", "/product", "prefix.example", ()),
    ("GET", "/", "method.example", ()),
    ("GET", "/", "header.example", (("X-Tenant", "red"),)),
    ("GET", "/", "header.example", ()),
    ("GET", "/?mode=slow", "query.example", ()),
    ("GET", "/?Mode=fast", "query.example", ()),
    ("GET", "/", "a.b.wild.example", ()),
    ("GET", "/", "wild.example", ()),
    ("GET", "/items/abc", "v2a.example", ()),
    ("GET", "/items/42", "v2c.example", ()),
]


@pytest.mark.parametrize("method,target,host,headers,expected", CASES,
                         ids=[f"{c[0]} {c[2]}{c[1]}" for c in CASES])
def test_request_reaches_the_matching_backend(env, method, target, host, headers, expected):
    w, bk = env
    for b in bk.values():
        b.clear()
    r = send(w, method, target, host, headers)
    assert r.status == 200, r
    assert r.header("X-Backend") == expected, r
    # Exactly that backend got the request, once, with the path and query unchanged.
    got = bk[expected].log()
    assert len(got) == 1, got
    assert got[0].method == method and got[0].target == target
    others = [req for n, b in bk.items() if n != expected for req in b.log()]
    assert others == []


@pytest.mark.parametrize("method,target,host,headers", MISSES,
                         ids=[f"{c[0]} {c[2]}{c[1]}" for c in MISSES])
def test_no_matching_router_is_404_and_reaches_no_backend(env, method, target, host, headers):
    w, bk = env
    for b in bk.values():
        b.clear()
    r = send(w, method, target, host, headers)
    assert r.status == 404, r
    assert r.body == b"404 page not found\n"
    assert [req for b in bk.values() for req in b.log()] == []


def test_routing_on_one_keep_alive_connection_follows_each_request(env):
    """The route is chosen per request, not per connection."""
    w, bk = env
    order = [("a.example", "/", "host"), ("prefix.example", "/products/1", "prefix"),
             ("a.example", "/x", "host"), ("len.example", "/api", "long"),
             ("nothing.example", "/", None), ("v2b.example", "/items/9", "v2")]
    with RawConn(w.ports["web"]) as c:
        for host, target, expected in order:
            c.request("GET", target, host=host)
            r = c.read_response()
            assert r is not None
            if expected is None:
                assert r.status == 404
            else:
                assert r.status == 200 and r.header("X-Backend") == expected, (host, r)
    assert w.running()


def test_routers_are_reported_enabled_with_their_priorities(env):
    w, _ = env
    routers = {r["name"]: r for r in w.get("/api/http/routers").json()}
    for n in NAMES:
        assert routers[f"{n}@file"]["status"] == "enabled", routers[f"{n}@file"]
    assert routers["prio_hi@file"]["priority"] == 100
    assert routers["v2@file"]["ruleSyntax"] == "v2"
