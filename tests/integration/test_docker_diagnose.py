"""GET /api/providers/docker/containers[/{name}] (issue 7, point 6; docs/operations/diagnose.md)
with the private Docker engine (tests/integration/dockerd.py): for each container, what wharf
read, what it made of it, and why.

The containers are made first and wharf started after, so that the first list sees them all;
the provider's configuration reaches the served snapshot after the throttle window, so element
statuses are polled.
"""

import time

TIMEOUT = 20.0  # a bound for "eventually", not an expectation
BASE = "/api/providers/docker/containers"


def start(wharf, docker, **provider):
    opts = {"endpoint": docker.endpoint, "exposedByDefault": False}
    opts.update(provider)
    static = {
        "api": {"insecure": True},
        "entryPoints": {"web": {}},
        "providers": {"docker": opts},
    }
    return wharf.start(static)


def until(w, path, pred, timeout=TIMEOUT):
    """Polls an API path until pred(status, json-or-None) holds; returns the JSON."""
    deadline = time.monotonic() + timeout
    while True:
        r = w.get(path)
        try:
            body = r.json()
        except ValueError:
            body = None
        if pred(r.status_code, body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: {r.status_code} {r.text[:800]}\n{w.log_tail()}")
        time.sleep(0.1)


def entry(w, name, pred=lambda c: True):
    return until(w, f"{BASE}/{name}", lambda s, b: s == 200 and pred(b))


def elem(c, name):
    for e in c["elements"]:
        if e["name"] == name:
            return e
    raise AssertionError(f"no element {name} in {c}")


def applied(c):
    return c["elements"] and all(e.get("status") != "pending" for e in c["elements"])


def test_diagnosis_of_each_container(wharf, docker):
    net, _ = docker.network("dg-net")
    net2, _ = docker.network("dg-net2")
    on = {"traefik.enable": "true"}
    routed = docker.run("dg-routed", network=net, labels={
        **on,
        "traefik.http.routers.dga.rule": "Host(`dga.example`)",
        "traefik.http.services.dga.loadbalancer.server.port": "80",
        "com.example.team": "payments",
    })
    twoports = docker.run("dg-twoports", network=net, expose=(8080, 9090),
                          cmd=["httpd", "-f", "-p", "8080", "-h", "/www"], labels=on)
    docker.run("dg-disabled", network=net, labels={"traefik.enable": "false"})
    docker.run("dg-unlabelled", network=net)
    docker.run("dg-badrule", network=net, labels={
        **on, "traefik.http.routers.dgbad.rule": "Host(`bad.example`"})
    twonets = docker.run("dg-twonets", network=[net, net2], labels={
        **on, "traefik.docker.network": net2,
        "traefik.http.routers.dgnets.rule": "Host(`dgnets.example`)"})
    docker.run("dg-secret", network=net, extra=("-e", "PASSWORD=hunter2"), labels={
        **on, "com.example.api-token": "hunter2"})
    docker.run("dg-sick", network=net, health=True, labels=on)  # /www/healthy never exists
    docker.wait_health("dg-sick", "unhealthy")

    w = start(wharf, docker)

    # (a) routed normally with a port label
    a = entry(w, "dg-routed", applied)
    assert a["id"] == routed.inspect()["Id"][:12]
    assert (a["state"], a["health"], a["exposed"]) == ("running", "none", True)
    assert "reason" not in a
    assert a["labels"] == {"traefik.enable": "true",
                           "traefik.http.routers.dga.rule": "Host(`dga.example`)",
                           "traefik.http.services.dga.loadbalancer.server.port": "80"}
    assert elem(a, "dga@docker")["status"] == "enabled"
    assert {e["kind"] for e in a["elements"]} == {"http.router", "http.service"}
    [srv] = a["servers"]
    assert srv["service"] == "dga@docker"
    assert srv["address"] == f"http://{routed.ip(net)}:80"
    assert srv["port"] == "80"
    assert srv["portReason"] == "label traefik.http.services.dga.loadbalancer.server.port"
    assert srv["network"] == net
    assert srv["networkReason"] == "the container's only network with an address"
    assert a["errors"] == [] and a["warnings"] == []
    r = w.http.get(w.url("/id.txt", "web"), headers={"Host": "dga.example"}, timeout=5)
    assert (r.status_code, r.text) == (200, "dg-routed")

    # (b) two exposed ports, no port label: the lowest, and how to choose another
    b = entry(w, "dg-twoports", applied)
    [srv] = b["servers"]
    assert srv["port"] == "8080"
    assert srv["address"] == f"http://{twoports.ip(net)}:8080"
    assert srv["portReason"].startswith(
        "the lowest of the 2 ports the container exposes (8080/tcp, 9090/tcp)")
    assert "traefik.http.services.dg-twoports.loadbalancer.server.port" in srv["portReason"]
    assert elem(b, "dg-twoports@docker")["kind"] in ("http.router", "http.service")

    # (c) not exposed: traefik.enable=false, and exposedByDefault false without the label
    c = entry(w, "dg-disabled")
    assert c["exposed"] is False
    assert c["reason"] == "not enabled (traefik.enable=false)"
    assert c["elements"] == [] and c["servers"] == []
    c = entry(w, "dg-unlabelled")
    assert c["exposed"] is False
    assert c["reason"] == ("not enabled (exposedByDefault is false and traefik.enable is not "
                           "set)")
    assert c["labels"] == {}

    # (d) a broken rule: the container is exposed, the router disabled with its error
    d = entry(w, "dg-badrule", applied)
    assert d["exposed"] is True
    bad = elem(d, "dgbad@docker")
    assert bad["kind"] == "http.router"
    assert bad["status"] == "disabled"
    assert bad["error"] and any("bad.example" in e or "rule" in e for e in bad["error"]), bad
    assert elem(d, "dg-badrule@docker")["status"] == "enabled"  # its service is fine

    # (e) two networks and traefik.docker.network
    e = entry(w, "dg-twonets", applied)
    [srv] = e["servers"]
    assert srv["network"] == net2
    assert srv["networkReason"] == f'label traefik.docker.network selects network "{net2}"'
    assert srv["address"] == f"http://{twonets.ip(net2)}:80"
    assert twonets.ip(net) != twonets.ip(net2)
    assert e["warnings"] == []

    # (f) a secret in the environment and in a foreign label: never in the output
    f = entry(w, "dg-secret")
    assert f["labels"] == {"traefik.enable": "true"}

    # (g) an unhealthy container with a healthcheck
    g = entry(w, "dg-sick")
    assert (g["state"], g["health"], g["exposed"]) == ("running", "unhealthy", False)
    assert g["reason"] == "health status is unhealthy (not healthy)"

    # The list: every container, sorted by name; search by name; nothing secret anywhere.
    r = w.get(BASE)
    assert r.status_code == 200 and r.headers["X-Next-Page"] == "1"
    names = [x["name"] for x in r.json()]
    assert [n for n in names if n.startswith("dg-")] == sorted(
        ["dg-routed", "dg-twoports", "dg-disabled", "dg-unlabelled", "dg-badrule",
         "dg-twonets", "dg-secret", "dg-sick"])
    for path in (BASE, f"{BASE}/dg-secret", f"{BASE}?search=secret"):
        body = w.get(path).text
        assert "hunter2" not in body and "PASSWORD" not in body, path
    found = w.get(f"{BASE}?search=DG-TWO").json()
    assert sorted(x["name"] for x in found) == ["dg-twonets", "dg-twoports"]
    assert w.get(f"{BASE}?search=no-such-container").json() == []
    # by short id too
    assert w.get(f"{BASE}/{a['id']}").json()["name"] == "dg-routed"

    r = w.get(f"{BASE}/nope")
    assert r.status_code == 404
    assert r.json() == {"message": "container not found: nope"}
    assert w.running()


def test_a_stopped_container_changes_its_diagnosis(wharf, docker):
    """The diagnosis follows the engine's events even when the configuration does not change
    (an already skipped container stopping)."""
    net, _ = docker.network("dg-ev-net")
    c = docker.run("dg-ev", network=net)  # not enabled: skipped while running and after
    w = start(wharf, docker)
    entry(w, "dg-ev", lambda b: b["state"] == "running" and b["exposed"] is False)
    c.stop()
    d = entry(w, "dg-ev", lambda b: b["state"] == "exited")
    assert d["reason"] == ("not enabled (exposedByDefault is false and traefik.enable is not "
                           "set)")


def test_without_the_docker_provider_the_route_says_so(wharf):
    w = wharf.start({"api": {"insecure": True}, "entryPoints": {"web": {}}})
    r = w.get(BASE)
    assert r.status_code == 404
    assert "docker provider is not configured" in r.json()["message"]
    assert w.get(f"{BASE}/anything").status_code == 404
