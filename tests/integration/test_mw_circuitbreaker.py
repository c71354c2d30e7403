"""circuitBreaker through the real binary (TRAEFIK-COMPAT §4; oxy cbreaker semantics).

One wharf with two workers serves every case; each case has its own router, host and
middleware, so one breaker's state never touches another's. A case that needs the backend to
come back reserves a port where nothing listens and starts a backend on it later.
"""

import time

import pytest

from backends import Backend, RawConn, lb_service, refused_url, wait_routed


def port_of(url):
    return int(url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    app = module_backends.http("app")
    dead = refused_url()
    revive = refused_url()
    mws = {
        "cb-dead": {"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.5"}},
        "cb-drop": {"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.5",
                                       "responseCode": 429}},
        "cb-codes": {"circuitBreaker": {"expression": "ResponseCodeRatio(500, 600, 0, 600) > 0.5"}},
        "cb-healthy": {"circuitBreaker": {"expression": "ResponseCodeRatio(500, 600, 0, 600) > 0.5"}},
        "cb-revive": {"circuitBreaker": {"expression": "NetworkErrorRatio() > 0.5",
                                         "fallbackDuration": "2s", "recoveryDuration": "3s"}},
        # Rejected at load time: oxy wants a float literal after NetworkErrorRatio().
        "cb-bad": {"circuitBreaker": {"expression": "NetworkErrorRatio() > 1"}},
    }
    services = {
        "app": lb_service(app.url),
        "dead": lb_service(dead),
        "revive": lb_service(revive),
    }
    routers = {
        "dead": ("dead", "cb-dead"),
        "drop": ("app", "cb-drop"),
        "codes": ("app", "cb-codes"),
        "healthy": ("app", "cb-healthy"),
        "revive": ("revive", "cb-revive"),
        "bad": ("app", "cb-bad"),
    }
    dyn_routers = {
        n: {"rule": f"Host(`{n}.example`)", "service": svc, "entryPoints": ["web"],
            "middlewares": [mw]}
        for n, (svc, mw) in routers.items()
    }
    dyn_routers["ready"] = {"rule": "Host(`ready.example`)", "service": "app",
                            "entryPoints": ["web"]}
    static = {"entryPoints": {"web": {}}, "api": {"insecure": True}, "wharf": {"workers": 2}}
    w = module_wharf.start(static, dynamic={"http": {"routers": dyn_routers, "middlewares": mws,
                                                     "services": services}})
    wait_routed(w, "ready.example")
    return {"w": w, "app": app, "revive_port": port_of(revive), "backends": module_backends}


def get(env, host, target="/echo"):
    with RawConn(env["w"].ports["web"]) as c:
        c.request("GET", target, host=host)
        r = c.read_response()
    assert r is not None, f"connection closed on {host}{target}"
    return r


def test_dead_backend_trips_then_answers_503_fast(env):
    first = get(env, "dead.example")
    assert first.status == 502, first
    # The first check runs with the first response: 1 error of 1 trips the breaker. The
    # exchange is counted when it ends, just after its response is written, so a client that
    # is quicker than that (a loaded machine, the other worker) may see one more 502 first.
    deadline = time.monotonic() + 10.0
    r = get(env, "dead.example")
    while r.status == 502 and time.monotonic() < deadline:
        time.sleep(0.05)
        r = get(env, "dead.example")
    assert r.status == 503, r
    for _ in range(20):
        t0 = time.monotonic()
        r = get(env, "dead.example")
        elapsed = time.monotonic() - t0
        assert r.status == 503, r
        assert r.body == b"Service Unavailable"
        assert elapsed < 5.0  # answered without a dial (a generous bound, not a timing)


def test_open_breaker_does_not_call_the_backend(env):
    app = env["app"]
    r = get(env, "drop.example", "/drop?cb=drop")  # the backend closes without answering
    assert r.status == 502, r
    # The data plane may try again on a fresh connection when a pooled one failed.
    called = len(app.with_target("cb=drop"))
    assert 1 <= called <= 2
    for i in range(10):
        r = get(env, "drop.example", f"/drop?cb=drop&i={i}")
        assert r.status == 429, r  # responseCode
        assert r.body == b"Too Many Requests"
    assert len(app.with_target("cb=drop")) == called, "requests reached the backend while open"


def test_response_code_ratio_trips_on_500s(env):
    app = env["app"]
    # Healthy traffic first: the ratio stays under 0.5 with half 500s.
    assert get(env, "codes.example", "/echo?cb=codes").status == 200
    time.sleep(0.15)  # past checkPeriod: the next response is checked
    assert get(env, "codes.example", "/status/500?cb=codes").status == 500  # 1/2
    time.sleep(0.15)
    assert get(env, "codes.example", "/status/500?cb=codes").status == 500  # 2/3: trips
    r = get(env, "codes.example", "/echo?cb=codes")
    assert r.status == 503, r
    assert r.body == b"Service Unavailable"
    assert len(app.with_target("cb=codes")) == 3


def test_healthy_traffic_never_trips(env):
    for i in range(30):
        assert get(env, "healthy.example", f"/echo?h={i}").status == 200
        if i % 10 == 0:
            time.sleep(0.11)


def test_recovers_when_the_backend_comes_back(env):
    assert get(env, "revive.example").status == 502
    tripped = time.monotonic()
    assert get(env, "revive.example").status == 503
    back = Backend("revive", port=env["revive_port"])
    env["backends"].started.append(back)
    # fallbackDuration (2s): still open although the backend is up; then recoveryDuration
    # (3s) lets a growing share through; then standby. The windows leave a wide margin on
    # each side: a loaded 2-core machine under the sanitizers answers slowly.
    fallback, recovery = [], []
    while time.monotonic() < tripped + 5.6:
        t = time.monotonic() - tripped
        st = get(env, "revive.example").status
        if t < 1.6:
            fallback.append(st)
        elif 2.5 < t < 4.6:
            recovery.append(st)
        time.sleep(0.01)
    assert fallback and set(fallback) == {503}, fallback
    assert 200 in recovery and 503 in recovery, recovery
    assert back.log(), "the backend that came back was never called"
    tail = [get(env, "revive.example").status for _ in range(10)]
    assert tail == [200] * 10, (recovery, tail)


def test_bad_expression_disables_middleware_and_router(env):
    w = env["w"]
    r = w.get("/api/http/middlewares/cb-bad@file")
    assert r.status_code == 200, r.text
    m = r.json()
    assert m["status"] == "disabled" or m.get("error"), m
    err = " ".join(m.get("error") or [])
    assert "expression" in err and "float literal" in err and "col 23" in err, err
    rt = w.get("/api/http/routers/bad@file").json()
    assert rt["status"] == "disabled", rt
    # Never served without its middleware.
    assert get(env, "bad.example").status == 404
