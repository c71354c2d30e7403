"""The swarm provider through the real binary and a single-node swarm on the private Docker
engine (docs/TRAEFIK-COMPAT.md §1 "Swarm"; the engine is tests/integration/dockerd.py).

The test makes the engine a swarm manager (`docker swarm init`), creates an attachable overlay
network and a two-replica busybox httpd service labelled for wharf (service labels, i.e.
compose `deploy.labels`), and runs wharf with `providers.swarm` polling every second.

Overlay networks live in the engine's own network namespaces: their task addresses (and the
service VIP) are not routable from the host. So there are two tests:

- the configuration wharf (on the host) builds, through /api/http/services and
  /api/http/routers: one service with the two task addresses as servers, the router with the
  service's rule, the lbswarm variant at the VIP, and a scale-down reflected within a few polls;
- traffic: wharf itself runs as a container attached to the overlay network, the way a swarm
  deployment runs it, and requests through it reach both replicas. The container chroots into
  the host's filesystem (mounted read-only) so that it runs the very binary under test, with
  the engine's socket reached through that read-only mount as a `:ro` docker.sock would be. Its
  ports are published on 127.0.0.1.

The swarm is left (`docker swarm leave --force`) at the end so that other tests see a plain
engine.
"""
import json
import re
import time
from collections import Counter

import pytest

from dockerd import IMAGE

NET = "wharf-swarm-net"
SUBNET = "10.214.1.0/24"
TIMEOUT = 30.0
WHARF_CTR = "wharf-on-overlay"


def api(w, path):
    r = w.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def wait_for(what, fn, timeout=TIMEOUT, log=None):
    """Polls fn() until it returns something truthy; fails with the last value after timeout."""
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < timeout:
        last = fn()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: still {last!r} after {timeout}s\n{log() if log else ''}")


def engine_json(engine, path):
    status, body = engine.api("GET", path)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def running_task_ips(engine, service):
    """The overlay addresses of the running tasks of service (without prefix length)."""
    flt = json.dumps({"service": [service], "desired-state": ["running"]})
    from urllib.parse import quote
    ips = []
    for t in engine_json(engine, "/tasks?filters=" + quote(flt)):
        if (t.get("Status") or {}).get("State") != "running":
            continue
        for att in t.get("NetworksAttachments") or []:
            if (att.get("Network") or {}).get("Spec", {}).get("Name") == NET:
                ips += [a.split("/")[0] for a in att.get("Addresses") or []]
    return sorted(ips)


def servers(w, name):
    """The server URLs of HTTP service name in wharf's API, or None when it does not exist."""
    for s in api(w, "/api/http/services?per_page=1000"):
        if s["name"] == name:
            return sorted(x["url"] for x in (s.get("loadBalancer") or {}).get("servers") or [])
    return None


@pytest.fixture
def swarm(dockerd):
    """The session's engine as a single-node swarm manager, for one test; the swarm (and the
    gateway bridge it made on the host) is gone afterwards."""
    dockerd.docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        dockerd.docker("network", "create", "--driver", "overlay", "--attachable",
                       "--subnet", SUBNET, NET)
        yield dockerd
    finally:
        dockerd.docker("rm", "-f", WHARF_CTR, check=False)
        for svc in ("app", "vip", "replicas"):
            dockerd.docker("service", "rm", svc, check=False)
        dockerd.docker("network", "rm", NET, check=False)
        dockerd.docker("swarm", "leave", "--force", check=False)
        # docker_gwbridge is a host bridge that outlives the swarm.
        dockerd.docker("network", "rm", "docker_gwbridge", check=False)


def create_service(engine, name, www, labels, replicas):
    args = ["service", "create", "--detach", "--name", name, "--replicas", str(replicas),
            "--network", NET, "--mount", f"type=bind,src={www},dst=/www,readonly"]
    for k, v in labels.items():
        args += ["--label", f"{k}={v}"]
    args += [IMAGE, "httpd", "-f", "-p", "8000", "-h", "/www"]
    engine.docker(*args)


def test_swarm_services_become_configuration(wharf, swarm):
    www = swarm.www("swarm-app")
    create_service(swarm, "app", www, {
        "traefik.enable": "true",
        "traefik.http.routers.app.rule": "Host(`app.swarm`)",
        "traefik.http.services.app.loadbalancer.server.port": "8000",
    }, replicas=2)
    create_service(swarm, "vip", www, {
        "traefik.http.routers.vip.rule": "Host(`vip.swarm`)",
        "traefik.http.services.vip.loadbalancer.server.port": "8000",
        "traefik.swarm.lbswarm": "true",
    }, replicas=1)

    w = wharf.start({
        "api": {"insecure": True},
        "entryPoints": {"web": {}},
        "providers": {"swarm": {"endpoint": swarm.endpoint, "refreshSeconds": "1s"}},
    })

    ips = wait_for("two running tasks of app",
                   lambda: (lambda v: v if len(v) == 2 else None)(running_task_ips(swarm, "app")))
    want = [f"http://{ip}:8000" for ip in ips]
    wait_for("app@swarm with both tasks", lambda: servers(w, "app@swarm") == want, log=w.log_tail)

    routers = {r["name"]: r for r in api(w, "/api/http/routers?per_page=1000")}
    assert routers["app@swarm"]["rule"] == "Host(`app.swarm`)"
    assert routers["app@swarm"]["service"] == "app"

    # The diagnosis of each swarm task: its traefik.* labels, what it produced and the
    # address chosen, the same as for containers (/api/providers/docker/containers).
    diag = api(w, "/api/providers/swarm/services?per_page=1000")
    apps = [d for d in diag if any(e["name"] == "app@swarm" for e in d["elements"])]
    assert apps, diag
    assert all(d["exposed"] and d["labels"]["traefik.enable"] == "true" for d in apps)
    addrs = {srv["address"] for d in apps for srv in d["servers"] if srv["service"] == "app@swarm"}
    assert {f"http://{a}" if not a.startswith("http") else a for a in addrs} == set(want), apps

    # lbswarm: one server, the service's virtual IP on the overlay network.
    svc = engine_json(swarm, "/services/vip")
    vips = [v["Addr"].split("/")[0] for v in svc["Endpoint"]["VirtualIPs"]
            if v["Addr"].startswith(SUBNET.rsplit(".", 1)[0] + ".")]
    assert len(vips) == 1, svc["Endpoint"]
    wait_for("vip@swarm at the VIP", lambda: servers(w, "vip@swarm") == [f"http://{vips[0]}:8000"],
             log=w.log_tail)

    # A poll follows the swarm: scaled down, one server remains.
    swarm.docker("service", "scale", "--detach", "app=1")
    left = wait_for("one running task of app",
                    lambda: (lambda v: v if len(v) == 1 else None)(running_task_ips(swarm, "app")))
    wait_for("app@swarm with one task",
             lambda: servers(w, "app@swarm") == [f"http://{left[0]}:8000"], log=w.log_tail)
    assert w.running()


def published(engine, container, port):
    """The 127.0.0.1 host port that `port`/tcp of container is published on."""
    out = engine.docker("port", container, f"{port}/tcp")
    m = re.search(r"127\.0\.0\.1:(\d+)", out)
    assert m, out
    return int(m.group(1))


def test_swarm_replicas_are_load_balanced_by_wharf_on_the_overlay(wharf_bin, swarm, tmp_path,
                                                                 http):
    # Each replica answers its own container hostname, so the test sees which one served.
    swarm.docker(
        "service", "create", "--detach", "--name", "replicas", "--replicas", "2",
        "--network", NET,
        "--label", "traefik.http.routers.replicas.rule=Host(`replicas.swarm`)",
        "--label", "traefik.http.services.replicas.loadbalancer.server.port=8000",
        IMAGE, "sh", "-c", "mkdir -p /tmp/w && hostname > /tmp/w/id.txt && "
                           "exec httpd -f -p 8000 -h /tmp/w")
    conf = tmp_path / "wharf.yml"
    conf.write_text(json.dumps({
        "log": {"level": "DEBUG"},
        "api": {"insecure": True},
        "entryPoints": {"web": {"address": ":8080"}, "traefik": {"address": ":8081"}},
        "providers": {"swarm": {"endpoint": swarm.endpoint, "refreshSeconds": "1s"}},
    }))
    tmp_path.chmod(0o755)
    swarm.docker(
        "run", "--detach", "--name", WHARF_CTR, "--network", NET,
        "-p", "127.0.0.1::8080", "-p", "127.0.0.1::8081", "-v", "/:/host:ro",
        "-e", "ASAN_OPTIONS=detect_leaks=0",
        IMAGE, "chroot", "/host", str(wharf_bin.resolve()), f"--configFile={conf}")

    def logs():
        return swarm.docker("logs", "--tail", "60", WHARF_CTR, check=False)

    api_port, web_port = published(swarm, WHARF_CTR, 8081), published(swarm, WHARF_CTR, 8080)

    def two_servers():
        try:
            r = http.get(f"http://127.0.0.1:{api_port}/api/http/services/replicas@swarm",
                         timeout=2)
        except OSError:
            return None
        if r.status_code != 200:
            return None
        return len((r.json().get("loadBalancer") or {}).get("servers") or []) == 2

    wait_for("replicas@swarm with two servers", two_servers, timeout=60, log=logs)

    seen = Counter()
    for _ in range(40):
        r = http.get(f"http://127.0.0.1:{web_port}/id.txt",
                     headers={"Host": "replicas.swarm"}, timeout=5)
        assert r.status_code == 200, (r.status_code, r.text[:200], logs())
        seen[r.text.strip()] += 1
    # Two distinct replicas, each serving a fair share of round robin.
    assert len(seen) == 2, seen
    assert min(seen.values()) >= 15, seen
    assert "AddressSanitizer" not in logs()
