"""The deployment users copy: the image from docker/Dockerfile (built by docker/build-image.sh)
and `docker-compose -f compose.example.yml up`, on the private engine (tests/integration/
dockerd.py).

No registry is reachable, so debian:bookworm-slim is made with debootstrap from the machine's
own apt mirror (build-image.sh reads it from the apt sources) and its tarball is cached in
/var/cache/wharf-test/ between runs; traefik/whoami is replaced, through a compose override
written here, by the busybox image serving HTTP on port 80 with the example's labels kept.
The override also publishes wharf's ports on 127.0.0.1 only and labels wharf's own container
with a router, which must never make wharf a backend of itself (CVE-2023-47633).

The example's demo router (TLS, with the headers and rateLimit middlewares) is requested over
HTTPS with its SNI, and its HSTS header checked; `demo-plain`, a plaintext router the override
adds on the same service, serves the other checks. The passthrough router is checked in the
API (the stand-in backend does not speak TLS).
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import REPO_ROOT, free_port, http_session

EXAMPLE = REPO_ROOT / "compose.example.yml"
BUILD_SCRIPT = REPO_ROOT / "docker" / "build-image.sh"
IMAGE_CACHE = "/var/cache/wharf-test"
BASE_IMAGE = "debian:bookworm-slim"
IMAGE = "wharf:latest"
PROJECT = "wharfdeploy"
BUILD_TIMEOUT = 1800.0  # a cold debootstrap plus apt in the build stage, on a slow mirror
HEALTHY_TIMEOUT = 90.0  # HEALTHCHECK runs every 10 s
ROUTE_TIMEOUT = 30.0
WHARF_UID = 65532  # the `wharf` user of docker/Dockerfile


def _report(config, line):
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is not None:
        tr.write_line(f"[deployment] {line}")


def _poll(what, fn, timeout):
    """Calls fn() until it returns a truthy value; returns it, or fails with the last one."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except (requests.RequestException, OSError, subprocess.SubprocessError, KeyError) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout}s (last: {last!r})")
        time.sleep(0.2)


class Deployment:
    def __init__(self, engine, ports, www):
        self.engine = engine
        self.ports = ports
        self.www = www
        self.http = http_session()

    def cid(self, service):
        out = self.engine._run(["docker-compose", "-p", PROJECT, "-f", str(EXAMPLE), "ps", "-q",
                                service], cwd=str(REPO_ROOT)).split()
        assert len(out) == 1, (service, out)
        return out[0]

    def inspect(self, service):
        return self.engine.inspect(self.cid(service))

    def logs(self, service="wharf"):
        p = subprocess.run(["docker", "logs", self.cid(service)], env=self.engine.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        return p.stdout.decode(errors="replace")

    def url(self, port_name, path):
        return f"http://127.0.0.1:{self.ports[port_name]}{path}"

    def get(self, port_name, path, host=None, **kw):
        kw.setdefault("timeout", 5)
        kw.setdefault("allow_redirects", False)
        headers = {"Host": host} if host else {}
        return self.http.get(self.url(port_name, path), headers=headers, **kw)

    def api(self, path):
        r = self.get("dashboard", path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r.json()


def _override(engine, www):
    sock = engine.socket
    return {
        "services": {
            "wharf": {
                # INFO shows the provider's "wharf runs in container <id>" (default: ERROR).
                "environment": {"TRAEFIK_LOG_LEVEL": "INFO"},
                "volumes": [f"{sock}:/var/run/docker.sock:ro"],
                # wharf's own container labelled as a backend: it must be skipped.
                "labels": {
                    "traefik.enable": "true",
                    "traefik.http.routers.wharf-self.rule": "Host(`self.localhost`)",
                    "traefik.http.routers.wharf-self.entrypoints": "websecure",
                    "traefik.http.services.wharf-self.loadbalancer.server.port": "80",
                },
            },
            "whoami": {
                "image": "wharf-test/busybox:latest",
                "command": ["httpd", "-f", "-p", "80", "-h", "/www"],
                "volumes": [f"{www}:/www:ro"],
                "labels": {
                    "traefik.http.routers.demo-plain.rule":
                        "Host(`whoami.localhost`) && PathPrefix(`/demo`)",
                    "traefik.http.routers.demo-plain.entrypoints": "websecure",
                    "traefik.http.routers.demo-plain.service": "whoami",
                },
            },
        }
    }


@pytest.fixture(scope="module")
def deployment(dockerd, tmp_path_factory, request):
    from conftest import require_service

    require_service("docker-compose")
    env = dict(dockerd.env, WHARF_IMAGE_CACHE=IMAGE_CACHE)
    had_base = dockerd.docker("image", "inspect", BASE_IMAGE, check=False).strip() not in ("", "[]")
    cached = os.path.exists(f"{IMAGE_CACHE}/debian-bookworm-minbase.tar")
    t0 = time.monotonic()
    p = subprocess.run([str(BUILD_SCRIPT), IMAGE], cwd=str(REPO_ROOT), env=env,
                       capture_output=True, timeout=BUILD_TIMEOUT)
    build_s = time.monotonic() - t0
    log = tmp_path_factory.mktemp("build") / "build-image.log"
    log.write_bytes(p.stdout + b"\n--- stderr ---\n" + p.stderr)
    _report(request.config, f"docker/build-image.sh: {build_s:.1f} s (base image "
            f"{'present' if had_base else 'from the cached tarball' if cached else 'debootstrapped'}"
            f"); log in {log}")
    assert p.returncode == 0, f"build-image.sh failed ({p.returncode}):\n" \
        f"{p.stderr.decode(errors='replace')[-4000:]}"

    work = tmp_path_factory.mktemp("deploy")
    www = work / "www"
    (www / "demo").mkdir(parents=True)
    (www / "demo" / "index.html").write_text("demo backend\n")
    www.chmod(0o755)
    (www / "demo").chmod(0o755)
    override = work / "compose.override.yml"
    override.write_text(yaml.safe_dump(_override(dockerd, www), sort_keys=False))

    ports = {"web": free_port(), "websecure": free_port(), "dashboard": free_port()}
    compose_env = dict(
        dockerd.env,
        WHARF_WEB_PORT=f"127.0.0.1:{ports['web']}",
        WHARF_WEBSECURE_PORT=f"127.0.0.1:{ports['websecure']}",
        WHARF_DASHBOARD_PORT=str(ports["dashboard"]),
        DOCKER_GID=str(os.stat(dockerd.socket).st_gid),
    )
    dockerd.projects[PROJECT] = EXAMPLE  # `compose down` at session end if not before
    t1 = time.monotonic()
    p = subprocess.run(["docker-compose", "-p", PROJECT, "-f", str(EXAMPLE), "-f", str(override),
                        "up", "-d", "--no-build"], cwd=str(REPO_ROOT), env=compose_env,
                       capture_output=True, timeout=300)
    assert p.returncode == 0, f"docker-compose up failed:\n{p.stderr.decode(errors='replace')}"
    d = Deployment(dockerd, ports, www)
    try:
        yield d
    finally:
        _report(request.config, f"compose up to teardown: {time.monotonic() - t1:.1f} s; "
                f"build + tests: {time.monotonic() - t0:.1f} s")
        d.http.close()
        dockerd.compose_down(PROJECT)


# ---- the example file itself ----------------------------------------------------------------


def test_example_is_the_documented_deployment():
    doc = yaml.safe_load(EXAMPLE.read_text())
    wharf = doc["services"]["wharf"]
    assert wharf["image"] == IMAGE and wharf["build"]["dockerfile"] == "docker/Dockerfile"
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in wharf["volumes"]
    assert wharf["group_add"], "the non-root user needs the socket's group"
    env = wharf["environment"]
    assert env["TRAEFIK_ENTRYPOINTS_WEB_HTTP_REDIRECTIONS_ENTRYPOINT_TO"] == "websecure"
    assert env["TRAEFIK_API_DASHBOARD"] == "true" and env["TRAEFIK_PING"] == "true"
    assert env["TRAEFIK_PROVIDERS_DOCKER_EXPOSEDBYDEFAULT"] == "false"
    assert any(p.startswith("127.0.0.1:") and p.endswith(":8080") for p in wharf["ports"])
    labels = dict(ln.split("=", 1) for ln in doc["services"]["whoami"]["labels"])
    assert labels["traefik.http.routers.whoami.middlewares"] == "whoami-hsts,whoami-ratelimit"
    assert labels["traefik.http.middlewares.whoami-hsts.headers.stsseconds"] == "31536000"
    assert "traefik.http.middlewares.whoami-ratelimit.ratelimit.average" in labels
    assert labels["traefik.tcp.routers.whoami-tls.tls.passthrough"] == "true"
    assert labels["traefik.tcp.routers.whoami-tls.rule"].startswith("HostSNI(")


# ---- the running deployment -----------------------------------------------------------------


def test_wharf_runs_as_non_root(deployment):
    info = deployment.inspect("wharf")
    assert info["Config"]["User"] == "wharf"
    # The engine needs the PID column to map ps output to the container.
    out = deployment.engine.docker("top", deployment.cid("wharf"), "-o", "pid,uid,comm")
    lines = out.splitlines()
    assert lines[0].split() == ["PID", "UID", "COMMAND"], lines
    procs = [(int(ln.split(None, 2)[1]), ln.split(None, 2)[2]) for ln in lines[1:]]
    assert any(cmd.startswith("wharf") for _, cmd in procs), procs
    assert all(uid == WHARF_UID for uid, _ in procs), procs


def test_healthcheck_reports_healthy(deployment):
    def healthy():
        h = deployment.inspect("wharf")["State"].get("Health") or {}
        return h.get("Status") == "healthy" and h

    h = _poll("wharf healthy", healthy, HEALTHY_TIMEOUT)
    assert h["Log"][-1]["ExitCode"] == 0


def test_demo_route_answers_through_published_port(deployment):
    def served():
        r = deployment.get("websecure", "/demo/", host="whoami.localhost")
        return r.status_code == 200 and r

    r = _poll("demo route", served, ROUTE_TIMEOUT)
    assert r.text == "demo backend\n"
    # Not routed: wharf itself answers 404, so the 200 above came from the backend.
    assert deployment.get("websecure", "/demo/", host="other.localhost").status_code == 404


def test_demo_route_over_https_with_its_middlewares(deployment):
    """The example's own router: TLS (the generated default certificate, as no certificate is
    configured), then hsts and ratelimit from its labels."""
    import tlsutil

    port = deployment.ports["websecure"]

    def answered():
        try:
            res = tlsutil.https_get(port, "whoami.localhost", path="/demo/")
        except OSError:
            return None
        return res if res.status == 200 else None
    res = _poll("demo route over HTTPS", answered, 60)
    assert res.body == b"demo backend\n"
    head = res.response.split(b"\r\n\r\n", 1)[0].decode()
    assert "Strict-Transport-Security: max-age=31536000; includeSubDomains" in head, head


def test_web_redirects_to_websecure(deployment):
    r = deployment.get("web", "/demo/", host="whoami.localhost")
    assert r.status_code in (301, 308), (r.status_code, r.text[:200])
    assert r.headers["Location"].startswith("https://whoami.localhost"), r.headers["Location"]
    assert r.headers["Location"].endswith("/demo/")


def test_api_lists_the_labelled_routers(deployment):
    want = {"whoami@docker", "demo-plain@docker", "api@internal", "dashboard@internal",
            "web-to-websecure@internal"}

    def routers():
        rs = {r["name"]: r for r in deployment.api("/api/http/routers?per_page=1000")}
        return want <= set(rs) and rs

    rs = _poll("routers in the API", routers, ROUTE_TIMEOUT)
    assert rs["whoami@docker"]["middlewares"] == ["whoami-hsts", "whoami-ratelimit"]
    assert rs["whoami@docker"]["entryPoints"] == ["websecure"]
    assert "tls" in rs["whoami@docker"]
    mws = {m["name"]: m for m in deployment.api("/api/http/middlewares?per_page=1000")}
    assert mws["whoami-hsts@docker"]["headers"]["stsSeconds"] == 31536000
    assert mws["whoami-ratelimit@docker"]["rateLimit"]["average"] == 100
    tcp = {r["name"]: r for r in deployment.api("/api/tcp/routers?per_page=1000")}
    assert tcp["whoami-tls@docker"]["tls"]["passthrough"] is True
    assert tcp["whoami-tls@docker"]["rule"] == "HostSNI(`whoami-tls.localhost`)"
    assert deployment.get("dashboard", "/dashboard/").status_code == 200


def test_own_container_is_never_a_backend(deployment):
    # The demo route answering proves the provider sees the engine; only then is an absence
    # meaningful.
    _poll("demo route", lambda: deployment.get("websecure", "/demo/",
                                               host="whoami.localhost").status_code == 200,
          ROUTE_TIMEOUT)
    info = deployment.inspect("wharf")
    assert info["Config"]["Labels"]["traefik.enable"] == "true"
    own_ips = {n["IPAddress"] for n in info["NetworkSettings"]["Networks"].values()}
    assert own_ips and all(own_ips)
    routers = {r["name"] for r in deployment.api("/api/http/routers?per_page=1000")}
    assert "wharf-self@docker" not in routers
    for s in deployment.api("/api/http/services?per_page=1000"):
        for srv in (s.get("loadBalancer") or {}).get("servers") or []:
            assert not any(f"//{ip}:" in srv.get("url", "") for ip in own_ips), s
    assert deployment.get("websecure", "/", host="self.localhost").status_code == 404
    # Excluded because wharf found its own container id, not by chance.
    log = deployment.logs()
    assert f"wharf runs in container {info['Id'][:12]}" in log, log[-3000:]
