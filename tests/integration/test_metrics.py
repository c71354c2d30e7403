"""Prometheus /metrics as a scraper sees it (TRAEFIK-COMPAT §9): Traefik's family names and
labels, request counters that grow by exactly the requests sent (over two workers), 404s
without a router on the entry point only, qualified service names, server_up from the health
checks, reload counters, open connections, and methods outside the HTTP verbs folded into
EXTENSION_METHOD. Every scrape is also checked against the text format."""

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml

from backends import RawConn, lb_service, wait_routed, wait_until
from conftest import free_port

_SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})?'
    r" (\S+)$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def _unescape(v):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    """{(name, frozenset of (label, value)): float}, asserting the text format on the way:
    HELP then TYPE once per family, families sorted, every sample inside its family."""
    out, families, family, ftype = {}, [], None, None
    assert text.endswith("\n"), text[-200:]
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split(" ")[2]
            assert family not in families, f"family {family} twice"
            families.append(family)
            ftype = None
            continue
        if line.startswith("# TYPE "):
            _, _, name, ftype = line.split(" ")
            assert name == family, line
            assert ftype in ("counter", "gauge", "histogram"), line
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        assert ftype, f"sample before HELP/TYPE: {line!r}"
        name = m.group(1)
        allowed = {family} if ftype != "histogram" else {
            family + "_bucket", family + "_sum", family + "_count"}
        assert name in allowed, f"{name} outside family {family}"
        labels = frozenset((k, _unescape(v)) for k, v in _LABEL.findall(m.group(2) or ""))
        key = (name, labels)
        assert key not in out, f"duplicate series {line!r}"
        out[key] = float(m.group(3))
    assert families == sorted(families), families
    return out


def series(samples, name, **labels):
    """Sum of the series of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def label_values(samples, name, label):
    return {dict(ls).get(label) for (n, ls), _ in samples.items() if n == name}


def scrape(w):
    r = w.get("/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


EP_REQS = "traefik_entrypoint_requests_total"
SVC_REQS = "traefik_service_requests_total"


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    app = module_backends.http("app")
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    hc = {"path": "/health", "interval": "200ms", "timeout": "200ms"}
    dynamic = {
        "http": {
            "routers": {
                "app": {"rule": "Host(`app.example`)", "service": "app", "entryPoints": ["web"]},
                "dead": {"rule": "Host(`dead.example`)", "service": "dead",
                         "entryPoints": ["web"]},
            },
            "services": {
                "app": lb_service(app.url, healthCheck=hc),
                "dead": lb_service(dead_url, healthCheck=hc),
            },
        }
    }
    static = {
        "api": {"insecure": True},
        "entryPoints": {"web": {}},
        "metrics": {"prometheus": {}},
        "wharf": {"workers": 2},
    }
    w = module_wharf.start(static, dynamic=dynamic)
    assert wait_routed(w, "app.example") == 200
    return w, app, dead_url


def send_many(w, plan):
    """Sends (host, expected status) pairs over four client connections in parallel, so that
    both workers serve some; returns the statuses seen."""
    def run(chunk):
        with requests.Session() as s:
            got = []
            for host in chunk:
                got.append(s.get(w.url("/echo", "web"), headers={"Host": host},
                                 timeout=10).status_code)
            return got

    chunks = [plan[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as ex:
        return [st for part in ex.map(run, chunks) for st in part]


def wait_metric(w, pred, timeout=10.0):
    """Scrapes until pred(samples) holds (an exchange is recorded just after its response
    is written, so the client may see the response first); returns the last samples."""
    last = None

    def ok():
        nonlocal last
        last = scrape(w)
        return pred(last)

    wait_until(ok, timeout, 0.05)
    return last


def test_request_counters_grow_by_exactly_n(env):
    w, _, _ = env
    before = scrape(w)
    plan = ["app.example"] * 40 + ["nobody.example"] * 17
    statuses = send_many(w, plan)
    assert statuses.count(200) == 40 and statuses.count(404) == 17, statuses

    def web(s, **kw):
        return series(s, EP_REQS, entrypoint="web", **kw)

    after = wait_metric(w, lambda s: web(s) - web(before) >= 57)
    base = dict(entrypoint="web", method="GET", protocol="http")
    assert web(after) - web(before) == 57
    assert series(after, EP_REQS, code="200", **base) - series(before, EP_REQS, code="200",
                                                                **base) == 40
    assert series(after, EP_REQS, code="404", **base) - series(before, EP_REQS, code="404",
                                                                **base) == 17
    # The service family carries the qualified name, and the 404s (no router) are not there.
    svc = dict(service="app@file", method="GET", protocol="http")
    assert series(after, SVC_REQS, code="200", **svc) - series(before, SVC_REQS, code="200",
                                                                **svc) == 40
    assert series(after, SVC_REQS, code="404") == 0
    assert "app@file" in label_values(after, SVC_REQS, "service")
    # Histograms and byte counters move with the requests.
    dur = "traefik_entrypoint_request_duration_seconds"
    assert series(after, dur + "_count", **base) - series(before, dur + "_count", **base) == 57
    assert series(after, dur + "_bucket", le="+Inf", **base) == series(after, dur + "_count",
                                                                        **base)
    assert series(after, "traefik_entrypoint_responses_bytes_total", **base) > series(
        before, "traefik_entrypoint_responses_bytes_total", **base)
    # Defaults: no router families; the scrapes themselves (prometheus@internal) uncounted.
    assert not any(n.startswith("traefik_router_") for n, _ in after)
    assert "traefik" not in label_values(after, EP_REQS, "entrypoint")
    assert series(after, "traefik_open_connections", entrypoint="web", protocol="TCP") >= 0


def test_unknown_method_is_extension_method(env):
    w, _, _ = env
    before = scrape(w)
    # PROPFIND is a token wharf's parser accepts; FOOBAR it refuses with 400 before routing
    # (no exchange, so no sample at all), which must not create a label value either.
    for method in ("PROPFIND", "FOOBAR"):
        with RawConn(w.ports["web"]) as c:
            c.request(method, "/echo", host="app.example")
            r = c.read_response()
        assert r is not None
    after = wait_metric(
        w, lambda s: series(s, EP_REQS, entrypoint="web") > series(before, EP_REQS,
                                                                   entrypoint="web"))
    methods = label_values(after, EP_REQS, "method")
    assert "FOOBAR" not in methods and "PROPFIND" not in methods
    assert methods <= {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                       "PATCH", "PRI", "EXTENSION_METHOD", "NON_UTF8_HTTP_METHOD"}, methods
    assert series(after, EP_REQS, entrypoint="web", method="EXTENSION_METHOD") - series(
        before, EP_REQS, entrypoint="web", method="EXTENSION_METHOD") == 1


def test_server_up(env):
    w, app, dead_url = env
    up = "traefik_service_server_up"
    s = wait_metric(w, lambda s: series(s, up, service="dead@file", url=dead_url) == 0
                    and (up, frozenset({("service", "dead@file"), ("url", dead_url)})) in s)
    assert (up, frozenset({("service", "dead@file"), ("url", dead_url)})) in s, \
        "no server_up sample for the down server"
    assert s[(up, frozenset({("service", "app@file"), ("url", app.url)}))] == 1


def test_open_connections(env):
    w, _, _ = env

    def web_conns(s):
        return series(s, "traefik_open_connections", entrypoint="web", protocol="TCP")

    # Let connections of earlier tests settle (keep-alive sessions are closed by now).
    v0 = web_conns(wait_metric(w, lambda s: True))
    socks = []
    try:
        for _ in range(3):
            socks.append(socket.create_connection(("127.0.0.1", w.ports["web"]), timeout=5))
        s = wait_metric(w, lambda s: web_conns(s) == v0 + 3)
        assert web_conns(s) == v0 + 3
    finally:
        for c in socks:
            c.close()
    s = wait_metric(w, lambda s: web_conns(s) == v0)
    assert web_conns(s) == v0


def test_reloads_grow_after_a_file_change(env, module_wharf, module_backends):
    w, app, _ = env
    before = scrape(w)
    n0 = series(before, "traefik_config_reloads_total")
    assert n0 >= 1  # the first configuration
    assert series(before, "traefik_config_last_reload_success") > 0
    t0 = time.time()
    other = module_backends.http("other")
    path = module_wharf.workdir / "traefik.dynamic.yml"
    dyn = yaml.safe_load(path.read_text())
    dyn["http"]["routers"]["other"] = {"rule": "Host(`other.example`)", "service": "other",
                                       "entryPoints": ["web"]}
    dyn["http"]["services"]["other"] = lb_service(other.url)
    path.write_text(yaml.safe_dump(dyn))
    assert wait_routed(w, "other.example") == 200
    s = wait_metric(w, lambda s: series(s, "traefik_config_reloads_total") > n0)
    assert series(s, "traefik_config_reloads_total") > n0
    assert series(s, "traefik_config_last_reload_success") >= int(t0) - 1


def test_router_labels_and_header_labels(wharf, backends):
    app = backends.http("app")
    dynamic = {"http": {
        "routers": {"app": {"rule": "Host(`app.example`)", "service": "app",
                            "entryPoints": ["web"]}},
        "services": {"app": lb_service(app.url)},
    }}
    static = {
        "api": {"insecure": True},
        "entryPoints": {"web": {}},
        "metrics": {"prometheus": {"addRoutersLabels": True, "addServicesLabels": False,
                                   "headerLabels": {"tenant": "X-Tenant"}}},
        "wharf": {"workers": 2},
    }
    w = wharf.start(static, dynamic=dynamic)
    assert wait_routed(w, "app.example") == 200
    before = scrape(w)
    for i in range(5):
        r = w.http.get(w.url("/echo", "web"), headers={"Host": "app.example",
                                                       "X-Tenant": "blue\"x"}, timeout=5)
        assert r.status_code == 200
    rt = "traefik_router_requests_total"
    s = wait_metric(w, lambda s: series(s, rt, tenant='blue"x') - series(
        before, rt, tenant='blue"x') >= 5)
    assert series(s, rt, router="app@file", service="app@file", tenant='blue"x', code="200",
                  method="GET", protocol="http") - series(before, rt, tenant='blue"x') == 5
    assert not any(n.startswith("traefik_service_") for n, _ in s)
    # header labels go on requests_total only
    assert "tenant" not in {k for (n, ls) in s
                            if n == "traefik_router_requests_bytes_total" for k, _ in ls}
    assert series(s, "traefik_router_responses_bytes_total", router="app@file") > 0


def test_series_of_removed_routers_and_services_go_after_one_scrape(wharf, backends):
    """As Traefik: the series of a router and service that left the configuration are shown
    by the next scrape once more, then dropped; the others stay, and the label set count
    shrinks."""
    keep, drop = backends.http("keep"), backends.http("drop")
    dynamic = {"http": {
        "routers": {name: {"rule": f"Host(`{name}.example`)", "service": name,
                           "entryPoints": ["web"]} for name in ("keep", "drop")},
        "services": {"keep": lb_service(keep.url), "drop": lb_service(drop.url)},
    }}
    static = {
        "api": {"insecure": True},
        "entryPoints": {"web": {}},
        "metrics": {"prometheus": {"addRoutersLabels": True}},
        "wharf": {"workers": 2},
    }
    w = wharf.start(static, dynamic=dynamic)
    for name in ("keep", "drop"):
        assert wait_routed(w, f"{name}.example") == 200
        for _ in range(4):
            assert w.http.get(w.url("/echo", "web"), headers={"Host": f"{name}.example"},
                              timeout=5).status_code == 200
    rt, svc = "traefik_router_requests_total", SVC_REQS
    s = wait_metric(w, lambda s: series(s, rt, router="drop@file") >= 4)
    sets_before = series(s, "wharf_metrics_label_sets")

    path = w.workdir / "traefik.dynamic.yml"
    dyn = yaml.safe_load(path.read_text())
    del dyn["http"]["routers"]["drop"]
    del dyn["http"]["services"]["drop"]
    path.write_text(yaml.safe_dump(dyn))
    wait_until(lambda: w.http.get(w.url("/echo", "web"), headers={"Host": "drop.example"},
                                  timeout=5).status_code == 404, 15)
    # the first scrape after the change still shows the final values ...
    s = scrape(w)
    assert series(s, rt, router="drop@file") >= 4
    assert series(s, svc, service="drop@file") >= 4
    # ... then they are gone, and only they
    s = wait_metric(w, lambda s: series(s, rt, router="drop@file") == 0)
    assert "drop@file" not in label_values(s, svc, "service")
    assert series(s, rt, router="keep@file") >= 4 and series(s, svc, service="keep@file") >= 4
    assert series(s, "wharf_metrics_label_sets") < sets_before
