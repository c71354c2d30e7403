"""Admin safety (issue 7 point 8): the API can be published on an ordinary entry point behind
authentication middlewares (api@internal routed like any service, the way Traefik users do
without api.insecure), and no API response shows a credential: password hashes and
credential header values (Authorization, Cookie) configured in middlewares are never
printed. The implicit `traefik` entry point's loopback default is covered by unit tests
(tests/unit/lib/config/test_static.c)."""

import base64
import json
import subprocess

import pytest
import requests

from backends import lb_service, wait_routed
from conftest import require_service


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    require_service("htpasswd", hint="apt-get install apache2-utils")
    bk = module_backends.http("echo")
    line = subprocess.run(["htpasswd", "-nbB", "admin", "s3cret pass"], check=True,
                          capture_output=True, text=True).stdout.strip()
    dynamic = {"http": {
        "routers": {
            # the operator's own router to the API and dashboard, as Traefik documents it
            "api": {"rule": "Host(`admin.example`) && (PathPrefix(`/api`) || "
                            "PathPrefix(`/dashboard`))",
                    "service": "api@internal", "entryPoints": ["web"],
                    "middlewares": ["adminauth"]},
            "app": {"rule": "Host(`app.example`)", "service": "echo", "entryPoints": ["web"],
                    "middlewares": ["creds"]},
        },
        "middlewares": {
            "adminauth": {"basicAuth": {"users": [line]}},
            "creds": {"headers": {
                "customRequestHeaders": {"Authorization": "Bearer token-abc123",
                                         "X-Team": "blue"},
                "customResponseHeaders": {"Set-Cookie": "sid=cookie-xyz789"}}},
        },
        "services": {"echo": lb_service(bk.url)},
    }}
    # `api: {}` (no insecure): api@internal exists, but only the router below publishes it
    w = module_wharf.start({"api": {}, "entryPoints": {"web": {}}}, dynamic=dynamic)
    wait_routed(w, "app.example")
    return {"w": w, "hash": line.split(":", 1)[1]}


def api(env, path, auth=None):
    headers = {"Host": "admin.example"}
    if auth:
        headers["Authorization"] = auth
    return requests.get(env["w"].url(path, "web"), headers=headers, timeout=10)


def test_api_behind_basic_auth_refuses_without_credentials(env):
    r = api(env, "/api/http/routers")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    assert "routers" not in r.text and "app@file" not in r.text
    assert api(env, "/api/http/routers", basic("admin", "wrong")).status_code == 401


def test_api_behind_basic_auth_answers_with_credentials(env):
    r = api(env, "/api/http/routers", basic("admin", "s3cret pass"))
    assert r.status_code == 200
    names = {x["name"] for x in r.json()}
    assert {"api@file", "app@file"} <= names
    d = api(env, "/dashboard/", basic("admin", "s3cret pass"))
    assert d.status_code == 200 and "<html" in d.text.lower()


def test_no_api_response_shows_a_credential(env):
    auth = basic("admin", "s3cret pass")
    texts = []
    for path in ("/api/rawdata", "/api/http/middlewares", "/api/http/middlewares/creds@file",
                 "/api/http/middlewares/adminauth@file"):
        r = api(env, path, auth)
        assert r.status_code == 200, path
        texts.append(r.text)
    for t in texts:
        for secret in (env["hash"], "token-abc123", "cookie-xyz789", "s3cret"):
            assert secret not in t
    creds = json.loads(texts[2])
    hdrs = creds["headers"]
    assert hdrs["customRequestHeaders"] == {"Authorization": "REDACTED", "X-Team": "blue"}
    assert hdrs["customResponseHeaders"] == {"Set-Cookie": "REDACTED"}


def test_redaction_changes_nothing_on_the_wire(env):
    r = requests.get(env["w"].url("/echo", "web"), headers={"Host": "app.example"}, timeout=10)
    assert r.status_code == 200
    seen = {k.lower(): v for k, v in r.json()["headers"]}
    assert seen["authorization"] == "Bearer token-abc123"
    assert "sid=cookie-xyz789" in r.headers.get("Set-Cookie", "")


def test_no_log_line_carries_a_credential(wharf, backends, tmp_path):
    """Debug-level application log and a JSON access log that keeps every header: the
    client's Authorization and Cookie values, the password and its hash appear in neither."""
    require_service("htpasswd", hint="apt-get install apache2-utils")
    bk = backends.http("echo")
    line = subprocess.run(["htpasswd", "-nbB", "ops", "pa55 word"], check=True,
                          capture_output=True, text=True).stdout.strip()
    access = tmp_path / "access.log"
    app = tmp_path / "wharf.log"
    dynamic = {"http": {
        "routers": {
            "open": {"rule": "Host(`open.example`)", "service": "echo", "entryPoints": ["web"]},
            "closed": {"rule": "Host(`closed.example`)", "service": "echo",
                       "entryPoints": ["web"], "middlewares": ["auth"]},
        },
        "middlewares": {"auth": {"basicAuth": {"users": [line]}}},
        "services": {"echo": lb_service(bk.url)},
    }}
    w = wharf.start({
        "entryPoints": {"web": {}},
        "log": {"level": "DEBUG", "filePath": str(app)},
        "accessLog": {"filePath": str(access), "format": "json",
                      "fields": {"headers": {"defaultMode": "keep"}}},
    }, dynamic=dynamic)
    wait_routed(w, "open.example")
    secrets = {"Authorization": "Bearer tok-Zq81x", "Cookie": "session=ck-Yw27p"}
    r = requests.get(w.url("/echo", "web"), headers={"Host": "open.example", **secrets},
                     timeout=10)
    assert r.status_code == 200
    for auth in (basic("ops", "pa55 word"), basic("ops", "wrong-pw-77")):
        r = requests.get(w.url("/echo", "web"),
                         headers={"Host": "closed.example", "Authorization": auth,
                                  "Cookie": "session=ck-Yw27p"}, timeout=10)
        assert r.status_code in (200, 401)
    w.stop()  # flushes both logs
    entries = [json.loads(x) for x in access.read_text().splitlines() if x.strip()]
    sent = [e for e in entries if "request_Cookie" in e]  # (wait_routed's probe sent none)
    assert len(sent) == 3
    assert all(e["request_Authorization"] == "REDACTED" for e in sent)
    assert all(e["request_Cookie"] == "REDACTED" for e in sent)
    assert any(e.get("ClientUsername") == "ops" for e in entries)  # the user name is fine
    text = access.read_text() + app.read_text() + w.log()
    assert "DBG" in app.read_text() or '"debug"' in app.read_text()  # debug lines were written
    for secret in ("tok-Zq81x", "ck-Yw27p", "pa55 word", "wrong-pw-77", line.split(":", 1)[1],
                   base64.b64encode(b"ops:pa55 word").decode()):
        assert secret not in text
