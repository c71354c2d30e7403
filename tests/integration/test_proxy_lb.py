"""Load balancing (TRAEFIK-COMPAT §10): weighted round robin, active health checks reported
in the API's serverStatus, sticky cookies, and the 503 when no server is available."""

import hashlib
from collections import Counter

from backends import RawConn, lb_service, wait_routed, wait_until

STATIC = {"api": {"insecure": True}, "ping": {}, "entryPoints": {"web": {}}}


def start(wharf, service, host="lb.example"):
    dynamic = {"http": {"routers": {"app": {"rule": f"Host(`{host}`)", "service": "app",
                                            "entryPoints": ["web"]}},
                        "services": {"app": service}}}
    w = wharf.start(STATIC, dynamic=dynamic)
    wait_routed(w, host)
    return w


def hit(w, n, host="lb.example", headers=None):
    """n GETs on one keep-alive session; returns the X-Backend of each (status 200 only)."""
    out = []
    for i in range(n):
        r = w.http.get(w.url(f"/lb-{i}", "web"), headers={"Host": host, **(headers or {})},
                       timeout=5)
        assert r.status_code == 200, (r.status_code, r.text)
        out.append(r.headers["X-Backend"])
    return out


def server_status(w, name="app@file"):
    r = w.get(f"/api/http/services/{name}")
    assert r.status_code == 200, r.text
    return r.json().get("serverStatus", {})


def test_weighted_round_robin_follows_the_weights(wharf, backends):
    one, three = backends.http("one"), backends.http("three")
    w = start(wharf, lb_service((one.url, 1), (three.url, 3)))
    one.clear()
    three.clear()
    counts = Counter(hit(w, 400))
    assert set(counts) == {"one", "three"}, counts
    # 1:3 of 400 is 100:300; ±5 % of the total either way.
    assert 80 <= counts["one"] <= 120, counts
    assert 280 <= counts["three"] <= 320, counts
    # The backends agree with what the client saw.
    assert len(one.log()) == counts["one"] and len(three.log()) == counts["three"]


def test_weight_zero_server_gets_nothing(wharf, backends):
    a, z = backends.http("a"), backends.http("zero")
    w = start(wharf, lb_service((a.url, 1), (z.url, 0)))
    assert set(hit(w, 20)) == {"a"}
    assert not z.log()


def test_down_server_leaves_the_rotation_and_comes_back(wharf, backends):
    h1, h2 = backends.http("h1"), backends.http("h2")
    w = start(wharf, lb_service(h1.url, h2.url,
                                healthCheck={"path": "/health", "interval": "200ms",
                                             "timeout": "1s"}))
    assert wait_until(lambda: server_status(w) == {h1.url: "UP", h2.url: "UP"}, 10), \
        server_status(w)
    assert set(hit(w, 10)) == {"h1", "h2"}
    # The probes use the configured path on each server.
    assert wait_until(lambda: h1.health_probes >= 2 and h2.health_probes >= 2, 10)

    h2.healthy = False
    assert wait_until(lambda: server_status(w).get(h2.url) == "DOWN", 10), server_status(w)
    assert server_status(w).get(h1.url) == "UP"
    h2.clear()
    assert set(hit(w, 30)) == {"h1"}
    assert not h2.log(), h2.log()

    h2.healthy = True
    assert wait_until(lambda: server_status(w).get(h2.url) == "UP", 10), server_status(w)
    assert "h2" in set(hit(w, 20))


def test_all_servers_down_is_503_no_available_server(wharf, backends):
    h1, h2 = backends.http("d1"), backends.http("d2")
    w = start(wharf, lb_service(h1.url, h2.url,
                                healthCheck={"path": "/health", "interval": "200ms",
                                             "timeout": "1s"}))
    assert wait_until(lambda: server_status(w) == {h1.url: "UP", h2.url: "UP"}, 10)
    h1.healthy = h2.healthy = False
    assert wait_until(lambda: set(server_status(w).values()) == {"DOWN"}, 10), server_status(w)
    r = w.http.get(w.url("/", "web"), headers={"Host": "lb.example"}, timeout=5)
    assert r.status_code == 503
    assert r.text == "no available server\n"
    # Back up: served again.
    h1.healthy = True
    assert wait_until(lambda: server_status(w).get(h1.url) == "UP", 10)
    assert set(hit(w, 5)) == {"d1"}


def test_service_with_no_servers_is_503(wharf):
    w = start(wharf, {"loadBalancer": {"servers": []}})
    r = w.http.get(w.url("/", "web"), headers={"Host": "lb.example"}, timeout=5)
    assert r.status_code == 503 and r.text == "no available server\n"


def parse_set_cookie(value):
    parts = [p.strip() for p in value.split(";")]
    name, _, val = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attrs[k.lower()] = v
    return name, val, attrs


def cookie_value(url):
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def test_sticky_cookie_keeps_a_client_on_one_server(wharf, backends):
    s1, s2 = backends.http("s1"), backends.http("s2")
    urls = {"s1": s1.url, "s2": s2.url}
    w = start(wharf, lb_service(s1.url, s2.url, sticky={"cookie": {
        "name": "lb_sticky", "httpOnly": True, "secure": True, "sameSite": "strict",
        "maxAge": 120, "path": "/"}}))
    with RawConn(w.ports["web"]) as c:
        c.request("GET", "/first", host="lb.example")
        r = c.read_response()
        assert r.status == 200
        first = r.header("X-Backend")
        set_cookies = [v for v in r.header_all("Set-Cookie") if v.startswith("lb_sticky=")]
        assert len(set_cookies) == 1, r.headers
        name, val, attrs = parse_set_cookie(set_cookies[0])
        assert name == "lb_sticky"
        assert val == cookie_value(urls[first]), (val, urls)
        assert attrs.get("path") == "/"
        assert attrs.get("max-age") == "120"
        assert "httponly" in attrs and "secure" in attrs
        assert attrs.get("samesite", "").lower() == "strict"
        # With the cookie: always the same server, and no new cookie.
        for i in range(20):
            c.request("GET", f"/again-{i}", host="lb.example",
                      headers=[("Cookie", f"other=1; lb_sticky={val}")])
            r = c.read_response()
            assert r.status == 200 and r.header("X-Backend") == first, r
            assert not [v for v in r.header_all("Set-Cookie") if v.startswith("lb_sticky=")]
        # The other server's cookie goes to the other server.
        other = "s2" if first == "s1" else "s1"
        for i in range(5):
            c.request("GET", f"/other-{i}", host="lb.example",
                      headers=[("Cookie", f"lb_sticky={cookie_value(urls[other])}")])
            r = c.read_response()
            assert r.status == 200 and r.header("X-Backend") == other, r
        # An unknown value: picked by WRR and a fresh cookie is set.
        c.request("GET", "/stale", host="lb.example", headers=[("Cookie", "lb_sticky=0000")])
        r = c.read_response()
        assert r.status == 200
        (sc,) = [v for v in r.header_all("Set-Cookie") if v.startswith("lb_sticky=")]
        assert parse_set_cookie(sc)[1] == cookie_value(urls[r.header("X-Backend")])


def test_sticky_cookie_default_name(wharf, backends):
    s1 = backends.http("only")
    w = start(wharf, lb_service(s1.url, sticky={"cookie": {}}))
    # wait_routed's requests went through this session and stored the cookie
    w.http.cookies.clear()
    r = w.http.get(w.url("/", "web"), headers={"Host": "lb.example"}, timeout=5)
    assert r.status_code == 200
    name, val, attrs = parse_set_cookie(r.headers["Set-Cookie"])
    candidates = {"_" + hashlib.sha1(f"_TRAEFIK_BACKEND_{n}".encode()).hexdigest()[:5]
                  for n in ("app@file", "app")}
    assert name in candidates, (name, candidates)
    assert val == cookie_value(s1.url)
    assert attrs.get("path") == "/"
