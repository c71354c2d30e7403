"""Smoke test: wharf runs the shipped examples and answers on its admin entry point with the
shapes Traefik documents (TRAEFIK-COMPAT.md section 8)."""

import pytest

from conftest import EXAMPLES, load_yaml


@pytest.fixture(scope="module")
def example(module_wharf):
    """wharf on examples/traefik.yml + examples/dynamic.yml, entry points on free ports."""
    static = load_yaml(EXAMPLES / "traefik.yml")
    assert static["api"]["insecure"] is True
    # The example's relative path assumes the repository root as working directory.
    static["providers"]["file"]["filename"] = str(EXAMPLES / "dynamic.yml")
    w = module_wharf.start(static)
    yield w
    assert w.running(), "wharf exited during the smoke tests:\n" + w.log_tail()


def test_version_is_json_with_version(example):
    r = example.get("/api/version")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert isinstance(body.get("Version"), str) and body["Version"]


def test_ping_answers_ok(example):
    r = example.get("/ping")
    assert r.status_code == 200
    assert r.text == "OK"


def test_routers_list_the_example_routers(example):
    r = example.get("/api/http/routers")
    assert r.status_code == 200
    routers = {rt["name"]: rt for rt in r.json()}

    expected = load_yaml(EXAMPLES / "dynamic.yml")["http"]["routers"]
    for name, conf in expected.items():
        got = routers.get(f"{name}@file")
        assert got is not None, f"{name}@file missing from {sorted(routers)}"
        assert got["provider"] == "file"
        assert got["rule"] == conf["rule"]
        assert got["service"] == conf["service"]
        assert got["status"] == "enabled", got.get("error")

    # api.insecure adds the API and dashboard routers on the traefik entry point.
    assert "api@internal" in routers
    assert "dashboard@internal" in routers


def test_unknown_router_is_404_with_message(example):
    r = example.get("/api/http/routers/nosuch@file")
    assert r.status_code == 404
    assert r.json() == {"message": "router not found: nosuch@file"}
    # and the API still answers afterwards
    assert example.get("/ping").text == "OK"
