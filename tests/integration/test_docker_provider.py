"""The docker provider through the real binary and a real, private Docker engine
(docs/TRAEFIK-COMPAT.md §1-2; the engine is tests/integration/dockerd.py).

Every backend is a busybox httpd in a container on a user-defined network (10.213.x.x, reached
from the host as wharf reaches it in production) serving /www/id.txt = its container name, so a
response says which container answered. wharf runs with `exposedByDefault: false` unless a test
is about that option. The provider applies at most one configuration per
`providersThrottleDuration` (2 s by default), so timed steps start after that window.
"""

import re
import socket
import time

import yaml

THROTTLE = 2.2  # providersThrottleDuration (2 s) plus a margin
ROUTE_TIMEOUT = 15.0  # generous bound for untimed "eventually routed" checks


# ---- helpers ------------------------------------------------------------------------------


def start(wharf, docker, dynamic=None, entrypoints=None, **provider):
    """wharf with the docker provider on the private engine (and the API on `traefik`)."""
    opts = {"endpoint": docker.endpoint, "exposedByDefault": False}
    opts.update(provider)
    static = {
        "api": {"insecure": True},
        "entryPoints": entrypoints or {"web": {}},
        "providers": {"docker": opts},
    }
    return wharf.start(static, dynamic=dynamic)


def get(w, host, path="/id.txt", **kw):
    kw.setdefault("timeout", 5)
    kw.setdefault("allow_redirects", False)
    return w.http.get(w.url(path, "web"), headers={"Host": host}, **kw)


def poll(w, host, pred, timeout=ROUTE_TIMEOUT, path="/id.txt", interval=0.05):
    """Requests host+path until pred(response) holds; returns (response, seconds). Fails with
    the last answer and wharf's log after `timeout`."""
    t0 = time.monotonic()
    last = None
    while True:
        try:
            last = get(w, host, path)
            if pred(last):
                return last, time.monotonic() - t0
        except Exception as e:  # noqa: BLE001 (keep polling until the deadline)
            last = e
        if time.monotonic() - t0 > timeout:
            desc = (f"{last.status_code} {last.text[:200]!r}" if hasattr(last, "status_code")
                    else repr(last))
            raise AssertionError(f"{host}{path}: still {desc} after {timeout}s\n{w.log_tail()}")
        time.sleep(interval)


def routed_to(name):
    return lambda r: r.status_code == 200 and r.text == name


def not_found(r):
    return r.status_code == 404


def api(w, path):
    r = w.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def http_routers(w):
    return {rt["name"]: rt for rt in api(w, "/api/http/routers?per_page=1000")}


def wait_api(w, path, pred, timeout=ROUTE_TIMEOUT):
    """Polls an API path until pred(json) holds; returns the JSON."""
    deadline = time.monotonic() + timeout
    while True:
        r = w.get(path)
        body = r.json() if r.status_code == 200 else None
        if body is not None and pred(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: {r.status_code} {r.text[:500]}\n{w.log_tail()}")
        time.sleep(0.1)


def wait_router(w, name, timeout=ROUTE_TIMEOUT):
    return wait_api(w, f"/api/http/routers/{name}", lambda b: True, timeout)


def server_urls(service):
    return sorted(s["url"] for s in (service.get("loadBalancer") or {}).get("servers") or [])


def stays(pred, seconds):
    """True when pred() holds on every check for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pred():
            return False
        time.sleep(0.1)
    return pred()


def enabled(**more):
    labels = {"traefik.enable": "true"}
    labels.update(more)
    return labels


# ---- lifecycle: start, stop, new address, replicas ---------------------------------------------


def test_container_is_routed_within_2s_of_start_and_gone_within_2s_of_stop(wharf, docker):
    net, subnet = docker.network("lc-net", subnet=True)
    base = subnet.rsplit(".", 1)[0]  # a fixed /24, so that --ip can pick the addresses
    ip1, ip2 = f"{base}.10", f"{base}.11"
    labels = enabled(**{"traefik.http.routers.lc.rule": "Host(`lc.example`)"})
    w = start(wharf, docker)
    t_wharf = time.monotonic()
    c = docker.run("lc-app-1", labels=labels, network=net, ip=ip1, start=False)
    # Start it once the throttle window of wharf's first configuration has passed.
    time.sleep(max(0.0, t_wharf + THROTTLE - time.monotonic()))
    c.start()
    t0 = c.started_at
    poll(w, "lc.example", routed_to("lc-app-1"), timeout=10)
    took = time.monotonic() - t0
    assert took < 2.0, f"routed {took:.2f}s after docker start returned"
    assert docker.wait_http(f"http://{ip1}/id.txt") == "lc-app-1"

    time.sleep(THROTTLE)
    c.stop()
    t0 = time.monotonic()
    # The router leaves the snapshot the data plane serves (the API reads that same
    # snapshot); a request polled meanwhile could sit in a connect to the vanished
    # address, so the time is taken from the snapshot and the 404 checked right after.
    deadline = t0 + 10
    while any(n.startswith("lc@") for n in http_routers(w)):
        assert time.monotonic() < deadline, w.log_tail()
        time.sleep(0.05)
    took = time.monotonic() - t0
    assert took < 2.0, f"still routed {took:.2f}s after docker stop returned"
    assert get(w, "lc.example").status_code == 404

    # Recreated with another address: the new one is used, the old one is gone.
    c.remove()
    docker.run("lc-app-2", labels=labels, network=net, ip=ip2)
    poll(w, "lc.example", routed_to("lc-app-2"))
    # the auto-created service is named after the container (Traefik's rule): look it up
    router = wait_api(w, "/api/http/routers/lc@docker", lambda r: r.get("service"))
    svc = wait_api(w, f"/api/http/services/{router['service']}@docker",
                   lambda s: server_urls(s) == [f"http://{ip2}:80"])
    assert f"http://{ip1}:80" not in server_urls(svc)
    assert w.running()


def test_three_replicas_share_one_service_and_all_answer(wharf, docker):
    net, _ = docker.network("rep-net")
    labels = enabled(**{
        "traefik.http.routers.rep.rule": "Host(`rep.example`)",
        "traefik.http.services.rep.loadbalancer.server.port": "80",
    })
    w = start(wharf, docker)
    names = [f"rep-{i}" for i in (1, 2, 3)]
    ips = [docker.run(n, labels=labels, network=net).ip() for n in names]
    svc = wait_api(w, "/api/http/services/rep@docker", lambda s: len(server_urls(s)) == 3)
    assert server_urls(svc) == sorted(f"http://{ip}:80" for ip in ips)
    assert http_routers(w)["rep@docker"]["status"] == "enabled"
    seen = {}
    for _ in range(60):
        r = get(w, "rep.example")
        assert r.status_code == 200, (r.status_code, r.text)
        seen[r.text] = seen.get(r.text, 0) + 1
    assert set(seen) == set(names), seen


# ---- label features ----------------------------------------------------------------------------


def test_exposed_by_default_true_routes_unlabelled_and_enable_false_opts_out(wharf, docker):
    net, _ = docker.network("exp-net")
    w = start(wharf, docker, exposedByDefault=True)
    docker.run("exp-plain", network=net)
    docker.run("exp-off", labels={"traefik.enable": "false"}, network=net)
    poll(w, "exp-plain", routed_to("exp-plain"))
    rts = http_routers(w)
    assert rts["exp-plain@docker"]["rule"] == "Host(`exp-plain`)"
    assert "exp-off@docker" not in rts
    assert get(w, "exp-off").status_code == 404


def test_exposed_by_default_false_needs_enable_true(wharf, docker):
    net, _ = docker.network("opt-net")
    w = start(wharf, docker)  # exposedByDefault: false
    docker.run("opt-none", network=net)
    docker.run("opt-in", labels={"traefik.enable": "true"}, network=net)
    poll(w, "opt-in", routed_to("opt-in"))
    assert "opt-none@docker" not in http_routers(w)
    assert get(w, "opt-none").status_code == 404


def test_explicit_router_rule_and_entrypoint(wharf, docker):
    net, _ = docker.network("rule-net")
    w = start(wharf, docker)
    docker.run("rule-app", network=net, labels=enabled(**{
        "traefik.http.routers.explicit.rule": "Host(`explicit.example`) && PathPrefix(`/id`)",
        "traefik.http.routers.explicit.entrypoints": "web",
    }))
    poll(w, "explicit.example", routed_to("rule-app"))
    rt = http_routers(w)["explicit@docker"]
    assert rt["rule"] == "Host(`explicit.example`) && PathPrefix(`/id`)"
    assert rt["entryPoints"] == ["web"]
    # The default rule is not added beside an explicit one, and the path part matters.
    assert get(w, "rule-app").status_code == 404
    assert get(w, "explicit.example", "/other").status_code == 404


def test_label_field_names_are_case_insensitive(wharf, docker):
    net, _ = docker.network("case-net")
    w = start(wharf, docker)
    docker.run("case-app", network=net, labels=enabled(**{
        "traefik.http.routers.Mixed.Rule": "Host(`case.example`)",
        "traefik.http.routers.Mixed.EntryPoints": "web",
        "traefik.http.services.Mixed.LoadBalancer.Server.Port": "80",
    }))
    poll(w, "case.example", routed_to("case-app"))
    assert "Mixed@docker" in http_routers(w)


def test_default_rule_normalizes_the_container_name(wharf, docker):
    net, _ = docker.network("norm-net")
    w = start(wharf, docker)
    docker.run("my_app.v1", network=net, labels={"traefik.enable": "true"})
    poll(w, "my-app-v1", routed_to("my_app.v1"))
    rt = http_routers(w)["my-app-v1@docker"]
    assert rt["rule"] == "Host(`my-app-v1`)"
    assert rt["status"] == "enabled"


def test_custom_default_rule_template(wharf, docker):
    net, _ = docker.network("tmpl-net")
    w = start(wharf, docker, defaultRule="Host(`{{ normalize .Name }}.docker.test`)")
    docker.run("tmpl_app.2", network=net, labels={"traefik.enable": "true"})
    poll(w, "tmpl-app-2.docker.test", routed_to("tmpl_app.2"))
    assert http_routers(w)["tmpl-app-2@docker"]["rule"] == "Host(`tmpl-app-2.docker.test`)"


def test_server_port_label_beats_lowest_exposed_port(wharf, docker):
    net, _ = docker.network("port-net")
    w = start(wharf, docker)
    # httpd on the lowest exposed port: found without a label.
    lo = docker.run("port-lowest", network=net, expose=(8080, 9090),
                    cmd=["httpd", "-f", "-p", "8080", "-h", "/www"],
                    labels=enabled(**{"traefik.http.routers.pl.rule": "Host(`pl.example`)"}))
    # httpd on the higher one: only the label gets there.
    hi = docker.run("port-explicit", network=net, expose=(8080, 9090),
                    cmd=["httpd", "-f", "-p", "9090", "-h", "/www"],
                    labels=enabled(**{
                        "traefik.http.routers.pe.rule": "Host(`pe.example`)",
                        "traefik.http.services.pe.loadbalancer.server.port": "9090",
                    }))
    # No exposed port and no label: "port is missing", the container is skipped.
    docker.run("port-none", network=net, cmd=["httpd", "-f", "-p", "80", "-h", "/www"],
               labels=enabled(**{"traefik.http.routers.pn.rule": "Host(`pn.example`)"}))
    poll(w, "pl.example", routed_to("port-lowest"))
    poll(w, "pe.example", routed_to("port-explicit"))
    assert server_urls(api(w, "/api/http/services/port-lowest@docker")) == [
        f"http://{lo.ip()}:8080"]
    assert server_urls(api(w, "/api/http/services/pe@docker")) == [f"http://{hi.ip()}:9090"]
    assert "pn@docker" not in http_routers(w)
    assert get(w, "pn.example").status_code == 404


def test_docker_network_label_and_option_choose_the_address(wharf, docker):
    a, _ = docker.network("choice-a")
    b, _ = docker.network("choice-b")
    w = start(wharf, docker, network=a)
    lab = docker.run("net-label", network=[a, b], labels=enabled(**{
        "traefik.http.routers.nl.rule": "Host(`nl.example`)",
        "traefik.http.services.nl.loadbalancer.server.port": "80",
        "traefik.docker.network": b,
    }))
    opt = docker.run("net-option", network=[b, a], labels=enabled(**{
        "traefik.http.routers.no.rule": "Host(`no.example`)",
        "traefik.http.services.no.loadbalancer.server.port": "80",
    }))
    poll(w, "nl.example", routed_to("net-label"))
    poll(w, "no.example", routed_to("net-option"))
    assert lab.ip(a) != lab.ip(b) and opt.ip(a) != opt.ip(b)
    assert server_urls(api(w, "/api/http/services/nl@docker")) == [f"http://{lab.ip(b)}:80"]
    assert server_urls(api(w, "/api/http/services/no@docker")) == [f"http://{opt.ip(a)}:80"]


def test_redirect_scheme_and_strip_prefix_middlewares_from_labels(wharf, docker):
    net, _ = docker.network("mw-net")
    w = start(wharf, docker)
    docker.run("mw-redirect", network=net, labels=enabled(**{
        "traefik.http.routers.rs.rule": "Host(`rs.example`)",
        "traefik.http.routers.rs.middlewares": "tohttps",
        "traefik.http.middlewares.tohttps.redirectscheme.scheme": "https",
        "traefik.http.middlewares.tohttps.redirectscheme.permanent": "true",
    }))
    docker.run("mw-strip", network=net, labels=enabled(**{
        "traefik.http.routers.sp.rule": "Host(`sp.example`) && PathPrefix(`/app`)",
        "traefik.http.routers.sp.middlewares": "strip",
        "traefik.http.middlewares.strip.stripprefix.prefixes": "/app",
    }))
    r, _ = poll(w, "rs.example", lambda r: r.status_code != 404)
    assert r.status_code in (301, 308), (r.status_code, r.headers)
    assert r.headers["Location"] == "https://rs.example/id.txt"
    poll(w, "sp.example", routed_to("mw-strip"), path="/app/id.txt")
    mw = api(w, "/api/http/middlewares/strip@docker")
    assert mw["type"] == "stripprefix" and mw["stripPrefix"]["prefixes"] == ["/app"]
    assert mw["status"] == "enabled"
    assert "sp@docker" in mw.get("usedBy", [])


def test_users_hsts_and_ratelimit_from_the_file_referenced_by_labels(wharf, docker, tmp_path):
    """Issue 6 acceptance, the users' configuration verbatim: `hsts` and `ratelimit` defined in
    the dynamic file, referenced from a container's labels as hsts@file and ratelimit@file, on
    a TLS router: HSTS on the HTTPS answer, and the rate limit applies."""
    import tlsutil

    ca = tlsutil.CA(tmp_path / "ca")
    cert, key = ca.issue("users.example")
    net, _ = docker.network("users-net")
    dynamic = {
        "http": {"middlewares": {
            "hsts": {"headers": {"stsSeconds": 31536000, "stsIncludeSubdomains": True,
                                 "stsPreload": True}},
            "ratelimit": {"rateLimit": {"average": 100, "burst": 50}},
        }},
        "tls": {"certificates": [{"certFile": str(cert), "keyFile": str(key)}]},
    }
    w = start(wharf, docker, dynamic=dynamic, entrypoints={"websecure": {}})
    docker.run("users-app", network=net, labels=enabled(**{
        "traefik.http.routers.app.rule": "Host(`users.example`)",
        "traefik.http.routers.app.entrypoints": "websecure",
        "traefik.http.routers.app.tls": "true",
        "traefik.http.routers.app.middlewares": "hsts@file,ratelimit@file",
    }))
    wait_api(w, "/api/http/routers/app@docker", lambda b: b.get("status") == "enabled")
    port = w.ports["websecure"]
    ctx = tlsutil.client_context(ca=ca.cert)

    def answer():
        try:
            return tlsutil.https_get(port, "users.example", path="/id.txt", ctx=ctx)
        except OSError:
            return None
    deadline = time.monotonic() + ROUTE_TIMEOUT
    res = answer()
    while (res is None or res.status != 200) and time.monotonic() < deadline:
        time.sleep(0.1)
        res = answer()
    assert res is not None and res.status == 200 and res.body == b"users-app", w.log_tail()
    head = res.response.split(b"\r\n\r\n", 1)[0].decode()
    assert "Strict-Transport-Security: max-age=31536000; includeSubDomains; preload" in head
    # burst 50 at 100/s: a quick run of 150 requests on one connection meets the limit
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="users.example") as sk:
            statuses = []
            rd = sk.makefile("rb")
            for _ in range(150):
                sk.sendall(b"GET /id.txt HTTP/1.1\r\nHost: users.example\r\n\r\n")
                line = rd.readline()
                statuses.append(int(line.split()[1]))
                length = 0
                while True:
                    h = rd.readline()
                    if h in (b"\r\n", b""):
                        break
                    if h.lower().startswith(b"content-length:"):
                        length = int(h.split(b":")[1])
                rd.read(length)
    assert 429 in statuses and statuses.count(200) >= 50, statuses


def test_redirect_regex_middleware_from_labels(wharf, docker):
    net, _ = docker.network("rr-net")
    w = start(wharf, docker)
    docker.run("mw-regex", network=net, labels=enabled(**{
        "traefik.http.routers.rr.rule": "Host(`rr.example`)",
        "traefik.http.routers.rr.middlewares": "moved",
        "traefik.http.middlewares.moved.redirectregex.regex": "^http://([^/]+)/old/(.*)$",
        "traefik.http.middlewares.moved.redirectregex.replacement": "http://${1}/new/${2}",
    }))
    r, _ = poll(w, "rr.example", lambda r: r.status_code != 404, path="/old/x.txt")
    assert r.status_code in (302, 307), (r.status_code, r.headers)
    assert r.headers["Location"] == "http://rr.example/new/x.txt"
    # A path the regex does not match goes through untouched.
    assert get(w, "rr.example").text == "mw-regex"


def test_middleware_without_a_runtime_is_in_the_api_and_never_skipped(wharf, docker):
    net, _ = docker.network("hdr-net")
    w = start(wharf, docker)
    docker.run("mw-headers", network=net, labels=enabled(**{
        "traefik.http.routers.hd.rule": "Host(`hd.example`)",
        "traefik.http.routers.hd.middlewares": "hdr",
        "traefik.http.middlewares.hdr.headers.customresponseheaders.X-Wharf-Test": "yes",
    }))
    mw = wait_api(w, "/api/http/middlewares/hdr@docker", lambda b: True)
    assert mw["type"] == "headers"
    assert mw["headers"]["customResponseHeaders"] == {"X-Wharf-Test": "yes"}
    assert mw["provider"] == "docker"
    rt = http_routers(w)["hd@docker"]
    assert rt["middlewares"] in (["hdr"], ["hdr@docker"])
    # Fail closed: either the middleware ran, or the router answers 500; never the backend
    # without its middleware.
    r = get(w, "hd.example")
    assert r.status_code == 500 or (
        r.status_code == 200 and r.headers.get("X-Wharf-Test") == "yes"), (
        r.status_code, dict(r.headers))


def test_tcp_router_label_is_in_the_tcp_api_and_makes_no_http_router(wharf, docker):
    net, _ = docker.network("tcp-net")
    w = start(wharf, docker, entrypoints={"web": {}, "tcpep": {}})
    docker.run("tcp-app", network=net, labels=enabled(**{
        "traefik.tcp.routers.tr.rule": "HostSNI(`*`)",
        "traefik.tcp.routers.tr.entrypoints": "tcpep",
        "traefik.tcp.services.ts.loadbalancer.server.port": "80",
    }))
    routers = wait_api(w, "/api/tcp/routers",
                       lambda b: any(r["name"] == "tr@docker" for r in b))
    tr = next(r for r in routers if r["name"] == "tr@docker")
    assert tr["rule"] == "HostSNI(`*`)"
    assert tr["entryPoints"] == ["tcpep"]
    assert tr["service"] in ("ts", "ts@docker")
    assert tr["provider"] == "docker"
    svc = api(w, "/api/tcp/services/ts@docker")
    ip = docker.inspect("tcp-app")["NetworkSettings"]["Networks"][net]["IPAddress"]
    assert [s["address"] for s in svc["loadBalancer"]["servers"]] == [f"{ip}:80"]
    # TCP labels only: no HTTP router or service is made for this container.
    assert not any(n.endswith("@docker") for n in http_routers(w))
    assert get(w, "tcp-app").status_code == 404


def test_unhealthy_container_is_not_routed_until_healthy(wharf, docker):
    net, _ = docker.network("hc-net")
    w = start(wharf, docker)
    c = docker.run("hc-app", network=net, health=True, labels=enabled(**{
        "traefik.http.routers.hc.rule": "Host(`hc.example`)",
    }))
    docker.wait_health("hc-app", "unhealthy")
    # The backend answers, but its health check fails: wharf must not route to it.
    assert docker.wait_http(c.url()) == "hc-app"
    assert stays(lambda: get(w, "hc.example").status_code == 404, THROTTLE + 0.5), w.log_tail()
    assert "hc@docker" not in http_routers(w)
    c.set_healthy()
    docker.wait_health("hc-app", "healthy")
    poll(w, "hc.example", routed_to("hc-app"))


def test_compose_project_gives_service_project_default_rule(wharf, docker, tmp_path):
    www = docker.www("compose-web", "compose web")
    compose_file = tmp_path / "docker-compose.yml"
    compose_file.write_text(yaml.safe_dump({
        "version": "2.4",
        "services": {
            "web": {
                "image": "wharf-test/busybox:latest",
                "command": ["httpd", "-f", "-p", "80", "-h", "/www"],
                "init": True,
                "stop_grace_period": "1s",
                "expose": ["80"],
                "volumes": [f"{www}:/www:ro"],
                "networks": ["front"],
                "labels": {"traefik.enable": "true"},
            },
        },
        "networks": {"front": {}},
    }, sort_keys=False))
    w = start(wharf, docker)
    docker.compose("shop", compose_file, "up", "-d")
    cid = docker.docker("ps", "-q", "--filter", "label=com.docker.compose.project=shop").split()
    assert len(cid) == 1
    ip = docker.inspect(cid[0])["NetworkSettings"]["Networks"]["shop_front"]["IPAddress"]
    assert ip.startswith("10.213.")
    poll(w, "web-shop", routed_to("compose web"))
    rt = http_routers(w)["web-shop@docker"]
    assert rt["rule"] == "Host(`web-shop`)"
    assert server_urls(api(w, "/api/http/services/web-shop@docker")) == [f"http://{ip}:80"]


# ---- bad labels ---------------------------------------------------------------------------------


def test_misspelled_label_key_disables_only_its_router(wharf, docker):
    net, _ = docker.network("typo-net")
    w = start(wharf, docker)
    docker.run("typo-app", network=net, labels=enabled(**{
        "traefik.http.routers.x.rul": "Host(`x.example`)",
        "traefik.http.routers.x.service": "typo",
        "traefik.http.routers.y.rule": "Host(`y.example`)",
        "traefik.http.routers.y.service": "typo",
        "traefik.http.services.typo.loadbalancer.server.port": "80",
    }))
    docker.run("typo-other", network=net, labels=enabled(**{
        "traefik.http.routers.fine.rule": "Host(`fine.example`)",
    }))
    poll(w, "fine.example", routed_to("typo-other"))
    poll(w, "y.example", routed_to("typo-app"))
    x = wait_router(w, "x@docker")
    assert x["status"] == "disabled", x
    errors = " ".join(x.get("error") or [])
    assert re.search(r"\brul\b", errors), errors  # names the bad key itself
    assert re.search(r"(?i)did you mean\W+(\w+\.)*rule\b", errors), errors
    assert get(w, "x.example").status_code == 404
    rts = http_routers(w)
    assert rts["y@docker"]["status"] == "enabled"
    assert rts["fine@docker"]["status"] == "enabled"
    assert w.running()


# ---- the engine goes away and comes back -------------------------------------------------------


def test_engine_restart_keeps_file_routes_and_restores_docker_routes(wharf, docker, backends):
    origin = backends.http("file-origin")
    net, _ = docker.network("rs-net")
    dynamic = {"http": {
        "routers": {"static": {"rule": "Host(`file.example`)", "service": "origin"}},
        "services": {"origin": {"loadBalancer": {"servers": [{"url": origin.url}]}}},
    }}
    w = start(wharf, docker, dynamic=dynamic)
    c = docker.run("rs-app", network=net, labels=enabled(**{
        "traefik.http.routers.rsr.rule": "Host(`rs.example`)",
    }))
    poll(w, "rs.example", routed_to("rs-app"))
    poll(w, "file.example", lambda r: r.status_code == 200, path="/echo")
    log_before = len(w.log())

    try:
        docker.stop_engine()
        assert not docker.ping()
        # During the outage wharf serves its file routes and its API, and says what happened.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            assert get(w, "file.example", "/echo").status_code == 200
            assert w.get("/api/version").status_code == 200
            time.sleep(0.2)
        assert "static@file" in http_routers(w)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _lost_connection(w.log()[log_before:]):
            time.sleep(0.1)
        assert _lost_connection(w.log()[log_before:]), w.log_tail()
        assert w.running()
    finally:
        docker.start_engine()

    # live-restore is off: the container died with the engine; started again, it is routed.
    assert c.inspect()["State"]["Running"] is False
    c.start()
    poll(w, "rs.example", routed_to("rs-app"), timeout=30)
    assert get(w, "file.example", "/echo").status_code == 200
    assert w.running()


def _lost_connection(log):
    """A log line about the Docker provider that reports the engine going away."""
    words = ("lost", "connection", "reconnect", "unreachable", "refused", "eof", "closed")
    return any("docker" in ln and any(k in ln for k in words) for ln in log.lower().splitlines())


def test_private_engine_backends_are_reachable_from_the_host(docker):
    """The Docker side of this module: the engine is private and its backends are reachable
    from the host on its own address pool."""
    assert docker.endpoint != "unix:///var/run/docker.sock"
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(str(docker.socket))
    s.close()
    net, _ = docker.network("side-net")
    c = docker.run("side-app", network=net)
    assert c.ip().startswith("10.213.")
    assert docker.wait_http(c.url()) == "side-app"


def test_https_backend_from_labels_with_a_file_transport(wharf, docker, tmp_path):
    """Issue 9 through labels: `loadbalancer.server.scheme=https` and
    `loadbalancer.serverstransport=st@file` on a container reach the backend over TLS,
    verified with the file provider's transport (rootCAs + serverName). The container runs in
    the host's network, so its address is loopback, where the test's TLS backend listens."""
    from tlsbackend import TLSRecordingBackend, issue_san
    from tlsutil import CA

    ca = CA(tmp_path / "ca", name="label CA")
    cert, key = issue_san(ca, "backend", "backend.example", "DNS:backend.example")
    backend = TLSRecordingBackend("tls-origin", cert, key)
    try:
        labels = {
            "traefik.enable": "true",
            "traefik.http.routers.app.rule": "Host(`tlsapp.example`)",
            "traefik.http.services.app.loadbalancer.server.port": str(backend.port),
            "traefik.http.services.app.loadbalancer.server.scheme": "https",
            "traefik.http.services.app.loadbalancer.serverstransport": "st@file",
        }
        transports = {"http": {"serversTransports": {"st": {
            "serverName": "backend.example", "rootCAs": [str(ca.cert)]}}}}
        w = start(wharf, docker, dynamic=transports)
        docker.run("tlsapp", labels=labels, cmd=["sleep", "600"], extra=["--network", "host"])
        r, _ = poll(w, "tlsapp.example", lambda r: r.status_code != 404, path="/echo")
        assert r.status_code == 200, (r.status_code, r.text[:200], w.log_tail())
        assert r.headers.get("X-Echo-Target") == "/echo"
        assert backend.requests, "the TLS backend saw no request"
    finally:
        backend.stop()
