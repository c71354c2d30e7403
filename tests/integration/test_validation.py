"""Element-level validation through the API: broken routers are disabled with a readable
error, and nothing else is taken down (issue 2 acceptance)."""

import pytest

SERVERS = {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}

DYNAMIC = {
    "http": {
        "routers": {
            "good": {"rule": "Host(`good.example`)", "service": "svc", "middlewares": ["hsts"]},
            "badrule": {"rule": "Host(`a.example`) && (Path(`/x`)", "service": "svc"},
            "nosvc": {"rule": "Host(`b.example`)", "service": "missing"},
            "nomw": {"rule": "Host(`c.example`)", "service": "svc", "middlewares": ["hsts", "ghost"]},
            "typo": {"rule": "Host(`d.example`)", "service": "svc", "middlewarez": ["hsts"]},
            "internalapi": {"rule": "Host(`api.example`)", "service": "api@internal"},
        },
        "services": {"svc": SERVERS},
        "middlewares": {"hsts": {"headers": {"stsSeconds": 60}}},
    }
}


@pytest.fixture(scope="module")
def w(module_wharf):
    return module_wharf.start(
        {"api": {"insecure": True}, "entryPoints": {"web": {}}}, dynamic=DYNAMIC
    )


def router(w, name):
    r = w.get(f"/api/http/routers/{name}")
    assert r.status_code == 200, r.text
    return r.json()


def test_bad_rule_is_disabled_with_position(w):
    rt = router(w, "badrule@file")
    assert rt["status"] == "disabled"
    assert any("rule:" in e and " at " in e for e in rt["error"]), rt["error"]


def test_missing_service_is_disabled(w):
    rt = router(w, "nosvc@file")
    assert rt["status"] == "disabled"
    assert rt["error"] == ['service "missing@file" does not exist']


def test_missing_middleware_is_disabled(w):
    rt = router(w, "nomw@file")
    assert rt["status"] == "disabled"
    assert 'middleware "ghost@file" does not exist' in rt["error"]


def test_unknown_key_disables_only_that_router_with_suggestion(w):
    rt = router(w, "typo@file")
    assert rt["status"] == "disabled"
    assert any("middlewarez" in e and 'did you mean "middlewares"' in e for e in rt["error"])


def test_every_other_element_stays_enabled(w):
    assert router(w, "good@file")["status"] == "enabled"
    assert "error" not in router(w, "good@file")
    assert router(w, "internalapi@file")["status"] == "enabled"
    svc = w.get("/api/http/services/svc@file").json()
    assert svc["status"] == "enabled"
    # usedBy lists every router that points at it, broken or not
    assert "good@file" in svc["usedBy"] and "nomw@file" in svc["usedBy"]
    mw = w.get("/api/http/middlewares/hsts@file").json()
    assert mw["status"] == "enabled" and mw["type"] == "headers"


def test_overview_counts_errors(w):
    ov = w.get("/api/overview").json()
    assert ov["http"]["routers"]["errors"] == 4
    assert ov["http"]["routers"]["total"] >= 6


def test_status_filter(w):
    names = {r["name"] for r in w.get("/api/http/routers?status=disabled").json()}
    assert names == {"badrule@file", "nosvc@file", "nomw@file", "typo@file"}


def test_disabled_router_is_never_served(w):
    # A disabled router never matches: its host gets the plain 404.
    r = w.get("/", entrypoint="web", headers={"Host": "b.example"})
    assert r.status_code == 404
    assert r.text == "404 page not found\n"
    # while a healthy router to an internal service on the same entry point answers
    r = w.get("/api/version", entrypoint="web", headers={"Host": "api.example"})
    assert r.status_code == 200 and "Version" in r.json()


def test_api_internal_serves_the_dashboard_too(w):
    h = {"Host": "api.example"}
    r = w.get("/dashboard", entrypoint="web", headers=h, allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/dashboard/"
    r = w.get("/dashboard/", entrypoint="web", headers=h)
    assert r.status_code == 200 and "<title>wharf dashboard</title>" in r.text


def test_internal_dashboard_router_redirects_root(w):
    r = w.get("/", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"].endswith(f":{w.ports['traefik']}/dashboard/")
    r = w.get("/dashboard/")
    assert r.status_code == 200 and "text/html" in r.headers["Content-Type"]
