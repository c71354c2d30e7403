"""`GET /api/debug/explain` and `wharf explain` (issue 7 point 5; docs/operations/explain.md).

For each request case the API's answer is checked against what the data plane really does: the
same request is sent through wharf to echo backends that name themselves in `X-Backend` (one
backend per router, named like it), and the router the API names must be the one that answered
(or none, for a 404). The non-matching candidates must name the failing matcher.
"""
import json
import subprocess
from urllib.parse import urlencode

import pytest

import tlsutil
from backends import RawConn, lb_service, wait_routed

ROUTERS = {
    # name: (rule, extra router fields)
    "host_a": ("Host(`a.example`)", {"priority": 10}),
    "api": ("Host(`a.example`) && PathPrefix(`/api`)", {"priority": 30,
                                                         "middlewares": ["hdr"]}),
    "exact": ("Host(`a.example`) && Path(`/exact`)", {"priority": 40}),
    "regexp": ("HostRegexp(`^[a-z]+\\.wild\\.example$`)", {}),
    "method": ("Host(`m.example`) && Method(`POST`)", {}),
    "header": ("Host(`h.example`) && Header(`X-Tenant`, `blue`)", {}),
    "query": ("Host(`q.example`) && Query(`mode`, `fast`)", {}),
    "client": ("Host(`c.example`) && ClientIP(`10.0.0.0/8`)", {"priority": 50}),
    "c_local": ("Host(`c.example`) && ClientIP(`127.0.0.1`)", {"priority": 20}),
    "notpath": ("Host(`n.example`) && !PathPrefix(`/private`)", {}),
    "broken": ("Host(`broken.example`) && Pathh(`/x`)", {}),
    "nosvc": ("Host(`nosvc.example`)", {"service": "does-not-exist"}),
    "elsewhere": ("Host(`o.example`)", {"entryPoints": ["other"]}),
    "secure": ("Host(`s.example`)", {"tls": {}}),
}
BACKENDS = [n for n in ROUTERS if n not in ("broken", "nosvc")]


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    bk = {n: module_backends.http(n) for n in BACKENDS}
    routers = {}
    for name, (rule, extra) in ROUTERS.items():
        r = {"rule": rule, "service": name if name in bk else "host_a", "entryPoints": ["web"]}
        r.update(extra)
        routers[name] = r
    dynamic = {
        "http": {
            "routers": routers,
            "middlewares": {"hdr": {"headers": {"customRequestHeaders": {"X-Via": "api"}}}},
            "services": {n: lb_service(b.url) for n, b in bk.items()},
        }
    }
    w = module_wharf.start({"api": {"insecure": True}, "ping": {},
                            "entryPoints": {"web": {}, "other": {}}}, dynamic=dynamic)
    wait_routed(w, "n.example", "/")
    wait_routed(w, "o.example", "/", entrypoint="other")
    return w, bk


def explain(w, **params):
    """GET /api/debug/explain with params (header may be a list). Returns (status, json)."""
    pairs = []
    for k, v in params.items():
        for item in (v if isinstance(v, list) else [v]):
            pairs.append((k, item))
    r = w.http.get(w.url("/api/debug/explain?" + urlencode(pairs)), timeout=10)
    return r.status_code, r.json()


def send(w, ep, method, path, host, headers, query, tls):
    """The same request through the data plane; returns (status, X-Backend)."""
    target = path + (f"?{query}" if query else "")
    if tls:
        res = tlsutil.https_get(w.ports[ep], host, path=target)
        head = res.response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        backend = None
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "x-backend":
                backend = v.strip()
        return res.status, backend
    with RawConn(w.ports[ep]) as c:
        c.request(method, target, host=host, headers=list(headers.items()),
                  body=b"" if method == "POST" else None)
        r = c.read_response()
        assert r is not None
        return r.status, r.header("X-Backend")


# (id, request, expected router or None, {candidate: (verdict, text in its reason)})
CASES = [
    ("host", dict(host="a.example", path="/"), "host_a",
     {"api": ("noMatch", "PathPrefix(`/api`) did not match path /"),
      "exact": ("noMatch", "Path(`/exact`) did not match path /")}),
    ("prefix", dict(host="a.example", path="/api/users"), "api",
     {"host_a": ("lowerPriority", "priority 10 < 30 of api@file"),
      "exact": ("noMatch", "Path(`/exact`) did not match path /api/users")}),
    ("exact", dict(host="a.example", path="/exact"), "exact",
     {"host_a": ("lowerPriority", "priority 10 < 40 of exact@file")}),
    ("host with port", dict(host="a.example:8080", path="/api"), "api", {}),
    ("uppercase host", dict(host="A.EXAMPLE", path="/"), "host_a", {}),
    ("other host", dict(host="b.example", path="/"), None,
     {"host_a": ("noMatch", "Host(`a.example`) did not match host b.example")}),
    ("hostregexp", dict(host="foo.wild.example", path="/"), "regexp", {}),
    ("hostregexp two labels", dict(host="a.b.wild.example", path="/"), None,
     {"regexp": ("noMatch", "did not match host a.b.wild.example")}),
    ("method", dict(host="m.example", path="/", method="POST"), "method", {}),
    ("wrong method", dict(host="m.example", path="/"), None,
     {"method": ("noMatch", "Method(`POST`) did not match method GET")}),
    ("header", dict(host="h.example", path="/", header=["X-Tenant:blue"]), "header", {}),
    ("wrong header", dict(host="h.example", path="/", header=["X-Tenant: red"]), None,
     {"header": ("noMatch", "Header(`X-Tenant`, `blue`) did not match header X-Tenant: red")}),
    ("missing header", dict(host="h.example", path="/"), None,
     {"header": ("noMatch", "did not match: no X-Tenant header")}),
    ("query", dict(host="q.example", path="/", query="mode=fast"), "query", {}),
    ("wrong query", dict(host="q.example", path="/", query="mode=slow"), None,
     {"query": ("noMatch", "Query(`mode`, `fast`) did not match query mode=slow")}),
    ("clientip", dict(host="c.example", path="/", client="127.0.0.1"), "c_local",
     {"client": ("noMatch", "ClientIP(`10.0.0.0/8`) did not match client 127.0.0.1")}),
    ("not", dict(host="n.example", path="/public"), "notpath", {}),
    ("not matched", dict(host="n.example", path="/private/x"), None,
     {"notpath": ("noMatch", "!PathPrefix(`/private`) did not match")}),
    ("disabled rule", dict(host="broken.example", path="/x"), None,
     {"broken": ("disabled", "Pathh")}),
    ("disabled service", dict(host="nosvc.example", path="/"), None,
     {"nosvc": ("disabled", "does-not-exist")}),
    ("other entry point", dict(host="o.example", path="/"), None,
     {"elsewhere": ("otherEntryPoint", "not on entry point web (on other only)")}),
    ("on its entry point", dict(host="o.example", path="/", entrypoint="other"), "elsewhere",
     {}),
    ("tls router, plaintext", dict(host="s.example", path="/"), None,
     {"secure": ("tlsMismatch", "requires TLS")}),
    ("tls router, tls", dict(host="s.example", path="/", tls="true"), "secure", {}),
    ("nothing", dict(host="zzz.example", path="/"), None,
     {"api": ("noMatch", "Host(`a.example`) did not match host zzz.example")}),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_explain_names_the_router_the_data_plane_picks(env, case):
    w, bk = env
    _, req, expected, cands = case
    ep = req.get("entrypoint", "web")
    params = dict(req)
    params.setdefault("entrypoint", "web")
    if "client" not in params:
        params["client"] = "127.0.0.1"  # what the data plane sees from this test
    status, ans = explain(w, **params)
    assert status == 200, ans

    headers = {}
    for h in req.get("header", []):
        k, _, v = h.partition(":")
        headers[k] = v.strip()
    got_status, backend = send(w, ep, req.get("method", "GET"), req["path"], req["host"],
                               headers, req.get("query"), req.get("tls") == "true")
    if expected is None:
        assert got_status == 404 and backend is None
        assert ans["served"] is False and ans["router"] is None, ans
        assert "404" in ans["message"]
    else:
        assert got_status == 200 and backend == expected
        assert ans["served"] is True, ans
        assert ans["router"]["name"] == f"{expected}@file", ans
        assert ans["router"]["service"] == f"{expected}@file"

    by_name = {c["name"]: c for c in ans["candidates"]}
    assert f"{expected}@file" not in by_name
    for name, (verdict, text) in cands.items():
        c = by_name.get(f"{name}@file")
        assert c is not None, (name, ans["candidates"])
        assert c["verdict"] == verdict, c
        assert text in c["reason"], c
    # every candidate that did not match names the failing matcher, quoted from its rule
    for c in ans["candidates"]:
        if c["verdict"] == "noMatch":
            assert c["matcher"].lstrip("!") and c["matcher"].lstrip("!")[0].isupper(), c
            assert c["matcher"] in c["rule"] or c["matcher"].startswith("!"), c


def test_winner_details(env):
    w, _ = env
    status, ans = explain(w, host="a.example", path="/api/x", entrypoint="web")
    assert status == 200
    r = ans["router"]
    assert r["rule"] == "Host(`a.example`) && PathPrefix(`/api`)"
    assert r["priority"] == 30
    assert r["middlewares"] == ["hdr@file"]
    assert r["entryPoints"] == ["web"]
    assert r["tls"] is False
    assert ans["entryPoint"] == "web"
    assert ans["request"]["path"] == "/api/x"


@pytest.mark.parametrize("query,fragment", [
    ("", "host or path is required"),
    ("host=a.example&header=NoColon", "expected Name:Value"),
    ("host=a.example&entrypoint=nope", "unknown entry point \"nope\""),
    ("host=a.example", "entrypoint is required: several entry points have HTTP routers"),
    ("host=a.example&entrypoint=web&client=not-an-ip", "is not an IP address"),
    ("host=a.example&entrypoint=web&path=x", "path must start with '/'"),
    # the path as it would be sent: a bad %-escape in it is refused like the data plane does
    ("host=a.example&entrypoint=web&path=/a%25zz", "invalid %-escape"),
    ("host=a.example&entrypoint=web&tls=maybe", "tls must be true or false"),
])
def test_bad_input_is_400_with_a_message(env, query, fragment):
    w, _ = env
    r = w.http.get(w.url("/api/debug/explain?" + query), timeout=10)
    assert r.status_code == 400, r.text
    # the API's error shape (Traefik's http.Error): JSON text sent as text/plain, nosniff
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    msg = r.json()["message"]
    assert fragment in msg
    if "entry point" in fragment or "entrypoint" in fragment:
        assert "web" in msg and "other" in msg


# ---- the CLI ----

def cli(w, wharf_bin, *args):
    cmd = [str(wharf_bin), "explain", *args, f"--configFile={w.config_path}"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def test_cli_served(env, wharf_bin):
    w, _ = env
    p = cli(w, wharf_bin, "--host", "a.example", "--path", "/api/users", "--entrypoint", "web")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "Served by router api@file" in out
    assert "rule:         Host(`a.example`) && PathPrefix(`/api`)" in out
    assert "middlewares:  hdr@file" in out
    assert "service:      api@file" in out
    assert "host_a@file [shadowed]: would match, but priority 10 < 30 of api@file" in out


def test_cli_not_found(env, wharf_bin):
    w, _ = env
    p = cli(w, wharf_bin, "--host=h.example", "--path=/", "--entrypoint=web",
            "--header", "X-Tenant: red")
    assert p.returncode == 1, p.stderr
    assert "No router matches: the request gets 404 page not found" in p.stdout
    assert ("header@file [no match]: Header(`X-Tenant`, `blue`) did not match header "
            "X-Tenant: red") in p.stdout


def test_cli_json(env, wharf_bin):
    w, _ = env
    p = cli(w, wharf_bin, "--host", "m.example", "--method", "post", "--entrypoint", "web",
            "--json")
    assert p.returncode == 0, p.stderr
    ans = json.loads(p.stdout)
    assert ans["router"]["name"] == "method@file"
    assert ans["request"]["method"] == "POST"
    p = cli(w, wharf_bin, "--host", "m.example", "--entrypoint", "web", "--json")
    assert p.returncode == 1
    assert json.loads(p.stdout)["served"] is False


def test_cli_errors_exit_2(env, wharf_bin):
    w, _ = env
    # the API refuses it (400): the message is shown
    p = cli(w, wharf_bin, "--host", "a.example", "--entrypoint", "nope")
    assert p.returncode == 2
    assert "400" in p.stderr and "unknown entry point \"nope\"" in p.stderr
    # usage errors never reach the API
    p = cli(w, wharf_bin, "--path")
    assert p.returncode == 2 and "--path needs a value" in p.stderr
    p = cli(w, wharf_bin, "--method", "GET")
    assert p.returncode == 2 and "--host or --path is required" in p.stderr
    p = cli(w, wharf_bin, "--host", "a.example", "--header", "bad")
    assert p.returncode == 2 and "expected Name:Value" in p.stderr


def test_cli_connection_error_exit_2(wharf_bin, tmp_path):
    from conftest import free_port
    port = free_port()
    conf = tmp_path / "static.yml"
    conf.write_text(f"api: {{insecure: true}}\nentryPoints:\n  traefik: {{address: "
                    f"'127.0.0.1:{port}'}}\n")
    p = subprocess.run([str(wharf_bin), "explain", "--host", "a.example",
                        f"--configFile={conf}"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2
    assert f"no answer from the API at 127.0.0.1:{port}" in p.stderr
