"""errors middleware through the real binary (TRAEFIK-COMPAT §4 "errors"): a backend response
whose status is listed is replaced by a page from the error service at the query ({status},
{originalStatus}, {url}), keeping the status (or rewriting it with statusRewrites); other
statuses and a missing error service leave the response as it was."""
import json

import pytest


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    app = module_backends.http("app")
    pages = module_backends.http("pages")
    w = module_wharf.start({"entryPoints": {"web": {}}}, dynamic={"http": {
        "routers": {
            "app": {"rule": "Host(`app.example`)", "service": "app", "middlewares": ["oops"]},
            "rw": {"rule": "Host(`rw.example`)", "service": "app", "middlewares": ["rewrite"]},
            "gone": {"rule": "Host(`gone.example`)", "service": "app",
                     "middlewares": ["nopages"]},
        },
        "services": {
            "app": {"loadBalancer": {"servers": [{"url": app.url}]}},
            "pages": {"loadBalancer": {"servers": [{"url": pages.url}]}},
            "empty": {"loadBalancer": {"servers": []}},
        },
        "middlewares": {
            "oops": {"errors": {"status": ["500-599", "404"], "service": "pages",
                                "query": "/echo?code={status}&was={originalStatus}&u={url}"}},
            "rewrite": {"errors": {"status": ["500-599"], "service": "pages",
                                   "query": "/echo?code={status}",
                                   "statusRewrites": {"500-503": 418}}},
            "nopages": {"errors": {"status": ["500"], "service": "empty", "query": "/x"}},
        },
    }})
    return w, app, pages


def get(w, host, path):
    return w.http.get(w.url(path, "web"), headers={"Host": host}, timeout=10)


@pytest.mark.parametrize("code", [500, 503, 404])
def test_listed_status_gets_the_page_with_the_original_status(env, code):
    w, app, pages = env
    r = get(w, "app.example", f"/status/{code}?x=1")
    assert r.status_code == code
    seen = r.json()
    assert seen["backend"] == "pages"
    assert f"code={code}" in seen["target"] and f"was={code}" in seen["target"]
    assert "u=%2Fstatus%2F" in seen["target"]
    # the page request carries the client's Host
    assert dict(seen["headers"]).get("Host") == "app.example"


@pytest.mark.parametrize("code", [200, 403, 418])
def test_other_statuses_pass_untouched(env, code):
    w, _, _ = env
    r = get(w, "app.example", f"/status/{code}")
    assert r.status_code == code
    assert "pages" not in r.text


def test_status_rewrite(env):
    w, _, _ = env
    r = get(w, "rw.example", "/status/502")
    assert r.status_code == 418
    assert "code=418" in r.json()["target"]
    assert get(w, "rw.example", "/status/504").status_code == 504


def test_no_error_service_answers_the_status_alone(env):
    w, _, _ = env
    r = get(w, "gone.example", "/status/500")
    assert r.status_code == 500
    # the backend that answered 500 is not counted as failed: the next request works
    assert get(w, "gone.example", "/echo").status_code == 200


def test_keep_alive_after_a_replaced_response(env):
    w, _, _ = env
    for code in (500, 200, 404, 200):
        assert get(w, "app.example", f"/status/{code}").status_code == code
