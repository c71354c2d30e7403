"""The dashboard (/dashboard/, TRAEFIK-COMPAT.md §8) as a person sees it: Debian's chromium,
headless, driven by tests/browser/dashboard.mjs (playwright-core).

The driver opens the page, waits for the tables, reads them from the DOM, types in the search
box, saves a full-page screenshot and prints what it saw as JSON lines; then it takes commands
on stdin (`wait-row TABLE NAME`, `wait-disconnected`) so that the test can change the
configuration, or stop wharf, while the same page stays open. The screenshot is kept under
$WHARF_TEST_ARTIFACTS (default build/test-artifacts/ in the repository).
"""

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml

from conftest import REPO_ROOT, free_port, require_service
from tlsutil import CA

BROWSER_DIR = REPO_ROOT / "tests" / "browser"
DRIVER = BROWSER_DIR / "dashboard.mjs"
CHROMIUM = "/usr/bin/chromium"
EVENT_TIMEOUT = 60.0  # a bound for a loaded CI machine, not an expectation
XSS = "<img src=x onerror=window.__xss=true>"
THROTTLE = 2.2  # the docker provider's providersThrottleDuration (2 s) plus a margin


def artifacts_dir():
    d = Path(os.environ.get("WHARF_TEST_ARTIFACTS") or REPO_ROOT / "build" / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def require_browser():
    require_service("chromium", lambda: os.access(CHROMIUM, os.X_OK),
                    "the Debian package chromium (scripts/setup.sh installs it)")
    require_service("node", hint="Node.js with npm, for tests/browser")
    require_service("playwright-core",
                    lambda: (BROWSER_DIR / "node_modules" / "playwright-core").is_dir(),
                    "run `npm install --no-audit --no-fund` in tests/browser (scripts/test.sh does)")


class Browser:
    """One dashboard.mjs process; its stdout JSON lines arrive on a queue."""

    def __init__(self, url, screenshot, search=None, log_path=None):
        argv = ["node", str(DRIVER), url, str(screenshot)]
        if search is not None:
            argv += ["--search", search]
        self.stderr = open(log_path, "wb") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, cwd=BROWSER_DIR, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.events = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            line = line.strip()
            if line:
                self.events.put(json.loads(line))
        self.events.put(None)

    def next(self, want, timeout=EVENT_TIMEOUT):
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {want!r} event from the browser after {timeout}s")
        assert ev is not None, f"the browser driver exited (status {self.proc.poll()})"
        assert ev["event"] == want, ev
        return ev

    def command(self, line, timeout=EVENT_TIMEOUT):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.next(line.split()[0], timeout)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        if self.stderr is not subprocess.DEVNULL:
            self.stderr.close()


def rows(page, table):
    return {r["name"]: r for r in page["tables"][table]["rows"]}


def api_json(w, path):
    r = w.get(path)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def wait_api(w, path, pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        r = w.get(path)
        if r.status_code == 200 and pred(r.json()):
            return r.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: {r.status_code} {r.text[:500]}\n{w.log_tail()}")
        time.sleep(0.1)


def keep_screenshot(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, (path, len(data))
    print(f"dashboard screenshot: {path}")


def test_dashboard_shows_the_file_provider_live_in_chromium(wharf, backends, tmp_path):
    require_browser()
    live = backends.http("live")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: DOWN
    ca = CA(tmp_path / "pki")
    soon_c, soon_k = ca.issue("soon.example", days=10)
    later_c, later_k = ca.issue("later.example", sans=["later.example", "www.later.example"],
                                days=200)
    dynamic = {
        "http": {
            "routers": {
                "good": {"rule": "Host(`good.example`)", "service": "app",
                         "middlewares": ["strip"], "entryPoints": ["web"]},
                "broken": {"rule": "Host(`broken.example`)", "service": "missing"},
                "badrule": {"rule": "Host(`unterminated", "service": "app"},
                "secure": {"rule": "Host(`soon.example`)", "service": "app", "tls": {},
                           "entryPoints": ["websecure"]},
                "markup": {"rule": f"Host(`markup.example`) && Header(`X-A`, `{XSS}`)",
                           "service": "app"},
            },
            "services": {
                "app": {"loadBalancer": {
                    "servers": [{"url": live.url}, {"url": dead}],
                    "healthCheck": {"path": "/health", "interval": "300ms", "timeout": "300ms"},
                }},
            },
            "middlewares": {"strip": {"stripPrefix": {"prefixes": ["/x"]}}},
        },
        "tls": {"certificates": [{"certFile": str(soon_c), "keyFile": str(soon_k)},
                                 {"certFile": str(later_c), "keyFile": str(later_k)}]},
    }
    static = {"api": {"insecure": True}, "entryPoints": {"web": {}, "websecure": {}}}
    w = wharf.start(static, dynamic=dynamic)
    wait_api(w, "/api/http/services/app@file",
             lambda s: s.get("serverStatus") == {live.url: "UP", dead: "DOWN"})
    api_routers = {r["name"]: r for r in api_json(w, "/api/http/routers?per_page=1000")}
    assert api_routers["broken@file"]["status"] == "disabled"
    assert api_routers["badrule@file"]["status"] == "disabled"

    shot = artifacts_dir() / "dashboard.png"
    # "/" answers with the redirect to /dashboard/ (dashboard_redirect@internal).
    b = Browser(w.url("/"), shot, search="broken", log_path=tmp_path / "browser.log")
    try:
        ev = b.next("loaded")
        page = ev["page"]
        assert ev["status"] == 200
        csp = ev["csp"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp, csp
        assert "http:" not in csp and "https:" not in csp and "*" not in csp, csp
        assert ev["cspViolations"] == [] and ev["pageErrors"] == [], ev
        assert page["connected"] == "true" and page["conn"].startswith("live"), page["conn"]

        routers = rows(page, "http-routers")
        assert routers["good@file"]["status"] == "enabled"
        assert routers["good@file"]["cells"]["Provider"] == "file"
        assert routers["good@file"]["cells"]["Middlewares"] == "strip"
        assert routers["good@file"]["cells"]["Entry points"] == "web"
        assert routers["secure@file"]["cells"]["TLS"].startswith("TLS")
        # Every error message of a broken router is on the page, exactly as the API has it.
        for name in ("broken@file", "badrule@file"):
            assert routers[name]["status"] == "disabled" and routers[name]["level"] == "error"
            assert routers[name]["errors"] == api_routers[name]["error"], routers[name]
        assert 'service "missing@file" does not exist' in routers["broken@file"]["errors"]
        assert "dashboard@internal" in routers and "api@internal" in routers

        services = rows(page, "http-services")
        assert services["app@file"]["servers"] == {live.url: "UP", dead: "DOWN"}
        assert "good@file" in services["app@file"]["cells"]["Used by"]
        mws = rows(page, "http-middlewares")
        assert mws["strip@file"]["cells"]["Type"] == "stripprefix"
        assert mws["strip@file"]["cells"]["Used by"] == "good@file"
        assert set(rows(page, "entrypoints")) == {"traefik", "web", "websecure"}

        certs = {r["cells"]["SANs"].split("\n")[0]: r for r in page["tables"]["certificates"]["rows"]}
        assert certs["soon.example"]["level"] == "warning", certs["soon.example"]
        assert 8 <= int(certs["soon.example"]["cells"]["Days left"]) <= 10
        assert certs["later.example"]["level"] == "ok"
        assert "www.later.example" in certs["later.example"]["cells"]["SANs"]
        assert "wharf test CA" in certs["later.example"]["cells"]["Issuer"]

        overview = api_json(w, "/api/overview")["http"]["routers"]
        assert page["overview"]["HTTP routers"] == (
            f"HTTP routers {overview['total']} {overview['warnings']} warnings "
            f"{overview['errors']} errors")

        # Markup in a configured value is shown as text and never becomes an element.
        assert XSS in routers["markup@file"]["cells"]["Rule"]
        assert page["injectedElements"] == 0 and page["xssRan"] is False

        # The search box filters every table; the status filter keeps the errors.
        searched = ev["searched"]["tables"]
        assert [r["name"] for r in searched["http-routers"]["rows"]] == ["broken@file"]
        assert all(not t["rows"] for k, t in searched.items() if k != "http-routers"), searched
        errs = rows(ev["statusErrors"], "http-routers")
        assert set(errs) == {"broken@file", "badrule@file"}
        assert set(rows(ev["statusErrors"], "certificates")) == set()  # soon is a warning
        keep_screenshot(shot)

        # Live refresh: a router added to the file appears on the open page, no reload.
        dynamic["http"]["routers"]["late"] = {"rule": "Host(`late.example`)", "service": "app"}
        (tmp_path / "traefik.dynamic.yml").write_text(yaml.safe_dump(dynamic, sort_keys=False))
        ev = b.command("wait-row http-routers late@file")
        assert ev["ok"], ev
        assert ev["sameDocument"] and ev["navigations"] == 1, ev
        assert rows(ev["page"], "http-routers")["late@file"]["status"] == "enabled"

        # The API stops answering: the page says so instead of showing stale data as live.
        w.stop()
        ev = b.command("wait-disconnected")
        assert ev["ok"], ev
        assert ev["page"]["conn"] == "disconnected"
        assert ev["page"]["banner"].startswith("Disconnected: the API stopped answering")
        assert "late@file" in rows(ev["page"], "http-routers")  # the last data stays visible
    finally:
        b.close()


def test_dashboard_shows_a_docker_container_router_and_its_label_as_text(wharf, docker, tmp_path):
    require_browser()
    net, _ = docker.network("dash-net")
    static = {"api": {"insecure": True}, "entryPoints": {"web": {}},
              "providers": {"docker": {"endpoint": docker.endpoint, "exposedByDefault": False}}}
    w = wharf.start(static, dynamic={"http": {"routers": {
        "fromfile": {"rule": "Host(`file.example`)", "service": "noop@internal"}}}})
    docker.run("dash-app", network=net, labels={
        "traefik.enable": "true",
        "traefik.http.routers.dash.rule": f"Host(`dash.example`) && Header(`X-L`, `{XSS}`)",
        "traefik.http.routers.dashbad.rule": "Host(`dashbad.example`)",
        "traefik.http.routers.dashbad.service": "nowhere",
    })
    wait_api(w, "/api/http/routers?per_page=1000",
             lambda rs: {"dash@docker", "dashbad@docker"} <= {r["name"] for r in rs},
             timeout=15 + THROTTLE)
    containers = w.get("/api/providers/docker/containers")

    shot = artifacts_dir() / "dashboard-docker.png"
    b = Browser(w.url("/dashboard/"), shot, search="dash.example",
                log_path=tmp_path / "browser.log")
    try:
        ev = b.next("loaded")
        page = ev["page"]
        assert ev["cspViolations"] == [] and ev["pageErrors"] == [], ev
        routers = rows(page, "http-routers")
        assert routers["fromfile@file"]["cells"]["Provider"] == "file"
        assert routers["dash@docker"]["cells"]["Provider"] == "docker"
        assert routers["dash@docker"]["status"] == "enabled"
        assert routers["dashbad@docker"]["status"] == "disabled"
        assert routers["dashbad@docker"]["errors"] == [
            'service "nowhere@docker" does not exist'], routers["dashbad@docker"]
        # The label's markup is text on the page, not an element, and no script ran.
        assert XSS in routers["dash@docker"]["cells"]["Rule"]
        assert page["injectedElements"] == 0 and page["xssRan"] is False
        assert [r["name"] for r in ev["searched"]["tables"]["http-routers"]["rows"]] == [
            "dash@docker"]
        # The container section follows the diagnosis endpoint: shown when it answers 200.
        section = page["tables"]["containers"]
        assert section["visible"] == (containers.status_code == 200), (containers.status_code,
                                                                      section)
        if containers.status_code == 200:
            crow = rows(page, "containers")["dash-app"]
            assert crow["cells"]["State"] == "running"
            assert "dash@docker" in crow["cells"]["Routers"]
            assert crow["level"] == "error"  # dashbad's missing service
        keep_screenshot(shot)
    finally:
        b.close()
