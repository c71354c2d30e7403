"""Fixtures that run the real wharf binary on loopback.

A test describes the static configuration as a dict (the YAML a user would write); the
launcher gives every entry point a free 127.0.0.1 port, writes the files into the test's
own directory, starts `wharf --configFile=...`, waits until it answers, and stops it at
teardown. Everything wharf prints goes to a log file the test can read (`proc.log()`).

Ports are written into the YAML, never passed as flags: wharf, like Traefik, takes its static
configuration from exactly one source.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "examples"

# Sanitizer builds start slowly on a loaded CI machine; this is a bound, not an expectation.
READY_TIMEOUT = 20.0
STOP_GRACE = 5.0

_SANITIZER_REPORT = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error: |"
    r"SUMMARY: UndefinedBehaviorSanitizer"
)


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_service(name, available=None, hint=""):
    """Skips the test when `name` is missing locally; fails it when CI=true.

    `available` is a bool or a callable returning one; by default the service counts as
    available when an executable called `name` is on PATH. In CI a missing service is a
    broken set-up, and a skip would hide it.
    """
    if available is None:
        ok = shutil.which(name) is not None
    elif callable(available):
        ok = bool(available())
    else:
        ok = bool(available)
    if ok:
        return
    msg = f"service {name!r} is not available" + (f" ({hint})" if hint else "")
    if in_ci():
        pytest.fail(msg + "; CI=true, so this is a failure, not a skip", pytrace=False)
    pytest.skip(msg)


_handed_out = set()


def free_port(udp=False):
    """A TCP (or UDP) port on 127.0.0.1 that nothing used a moment ago.

    Ports already handed out in this session are never repeated, so two entry points of one
    configuration cannot collide even before wharf binds them.
    """
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


def load_yaml(path):
    with open(path) as f:
        return yaml.safe_load(f) or {}


def http_session():
    """A requests session that ignores proxy settings: every target here is loopback."""
    s = requests.Session()
    s.trust_env = False
    return s


class WharfProcess:
    """One running wharf. `ports` maps entry point names to their loopback ports."""

    def __init__(self, binary, workdir, config_path, ports, ready_url, env=None, udp=()):
        self.binary = binary
        self.workdir = workdir
        self.config_path = config_path
        self.ports = ports
        self.udp_entrypoints = set(udp)
        self.ready_url = ready_url
        self.log_path = workdir / "wharf.log"
        self.http = http_session()
        self._log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(binary), f"--configFile={config_path}"],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def url(self, path="/", entrypoint="traefik"):
        return f"http://127.0.0.1:{self.ports[entrypoint]}{path}"

    def get(self, path="/", entrypoint="traefik", **kw):
        kw.setdefault("timeout", 5)
        return self.http.get(self.url(path, entrypoint), **kw)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def running(self):
        return self.proc.poll() is None

    def wait_for_log(self, pattern, timeout=10.0):
        """Polls the log until `pattern` (a regex) appears; returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m:
                return m
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{pattern!r} not in wharf's log after {timeout}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def wait_ready(self, timeout=READY_TIMEOUT):
        """Polls until the ready URL answers 200 (or, without one, every TCP entry point
        accepts connections); fails early with the log when wharf exits."""
        deadline = time.monotonic() + timeout
        last = "no attempt"
        while True:
            if not self.running():
                raise AssertionError(
                    f"wharf exited with status {self.proc.returncode} before it was ready:\n"
                    f"{self.log_tail()}"
                )
            try:
                if self.ready_url:
                    r = self.http.get(self.ready_url, timeout=1)
                    if r.status_code == 200:
                        return
                    last = f"{self.ready_url} answered {r.status_code}"
                else:
                    for ep, port in self.ports.items():
                        if ep not in self.udp_entrypoints:
                            with socket.create_connection(("127.0.0.1", port), timeout=1):
                                pass
                    return
            except (requests.RequestException, OSError) as e:
                last = f"{type(e).__name__}: {e}"
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"wharf not ready after {timeout}s ({last}):\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, grace=STOP_GRACE):
        """Sends `sig`, then SIGKILL after `grace` seconds; returns the exit status."""
        if self.running():
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.http.close()
        if not self._log_file.closed:
            self._log_file.close()
        return self.proc.returncode

    def sanitizer_report(self):
        """The first sanitizer report in the log, or None."""
        m = _SANITIZER_REPORT.search(self.log())
        return self.log()[m.start():][:4000] if m else None


class WharfLauncher:
    """Starts wharf processes in one directory and stops all of them at teardown."""

    def __init__(self, binary, workdir):
        self.binary = binary
        self.workdir = Path(workdir)
        self.procs = []

    def write(self, name, content):
        """Writes a file (str, bytes, or a dict/list dumped as YAML) in the work directory."""
        path = self.workdir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, (dict, list)):
            content = yaml.safe_dump(content, sort_keys=False)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path

    def start(self, static, dynamic=None, name="traefik", ready=True, ready_url=None, env=None):
        """Starts wharf with `static` (a dict; not modified) and returns a WharfProcess.

        Every entry point gets address 127.0.0.1:<free port> (a /udp suffix is kept); the
        implicit `traefik` entry point is made explicit when api.insecure or ping needs it, so
        it is on loopback too. `dynamic` (a dict) becomes the file provider's file.
        Readiness is /ping when ping is on, else /api/version when api.insecure is on, else
        the entry points accepting connections; pass ready=False to skip waiting.
        """
        conf = yaml.safe_load(yaml.safe_dump(static or {}))  # deep copy, YAML types only
        eps = conf.get("entryPoints") or {}
        conf["entryPoints"] = eps
        uses_traefik_ep = (conf.get("api") or {}).get("insecure") or (
            "ping" in conf and (conf.get("ping") or {}).get("entryPoint", "traefik") == "traefik"
        )
        if uses_traefik_ep and "traefik" not in eps:
            eps["traefik"] = {}
        if not eps:
            eps["web"] = {}
        ports, udp = {}, []
        for ep_name, ep in list(eps.items()):
            ep = ep or {}
            eps[ep_name] = ep
            is_udp = str(ep.get("address", "")).lower().endswith("/udp")
            ports[ep_name] = free_port(udp=is_udp)
            ep["address"] = f"127.0.0.1:{ports[ep_name]}" + ("/udp" if is_udp else "")
            if is_udp:
                udp.append(ep_name)

        if dynamic is not None:
            dyn_path = self.write(f"{name}.dynamic.yml", dynamic)
            providers = conf.get("providers") or {}
            conf["providers"] = providers
            providers["file"] = {"filename": str(dyn_path), "watch": True}
        conf.setdefault("log", {"level": "INFO"})

        config_path = self.write(f"{name}.yml", conf)

        if ready_url is None and ready:
            if "ping" in conf:
                ep = (conf.get("ping") or {}).get("entryPoint", "traefik")
                ready_url = f"http://127.0.0.1:{ports[ep]}/ping"
            elif (conf.get("api") or {}).get("insecure"):
                ready_url = f"http://127.0.0.1:{ports['traefik']}/api/version"

        proc_env = dict(os.environ if env is None else env)
        w = WharfProcess(self.binary, self.workdir, config_path, ports, ready_url, proc_env, udp)
        self.procs.append(w)
        if ready:
            w.wait_ready()
        return w

    def stop_all(self):
        """Stops every process; returns the sanitizer reports found in their logs."""
        reports = []
        for w in self.procs:
            w.stop()
            rep = w.sanitizer_report()
            if rep:
                reports.append(f"{w.log_path}:\n{rep}")
        return reports


@pytest.fixture(scope="session")
def wharf_bin():
    """The wharf binary under test: $WHARF_BIN, else build/test/wharf in the repository."""
    path = Path(os.environ.get("WHARF_BIN") or REPO_ROOT / "build" / "test" / "wharf")
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"wharf binary not found at {path}: build it with `make test`", pytrace=False)
    return path


def _launcher(wharf_bin, workdir):
    launcher = WharfLauncher(wharf_bin, workdir)
    yield launcher
    reports = launcher.stop_all()
    if reports:
        pytest.fail("sanitizer report in wharf's log:\n" + "\n".join(reports), pytrace=False)


@pytest.fixture
def wharf(wharf_bin, tmp_path):
    """A launcher for this test: `w = wharf.start(static_dict)`; stopped at teardown."""
    yield from _launcher(wharf_bin, tmp_path)


@pytest.fixture(scope="module")
def module_wharf(wharf_bin, tmp_path_factory):
    """Like `wharf`, shared by the tests of one module (one process for several checks)."""
    yield from _launcher(wharf_bin, tmp_path_factory.mktemp("wharf"))


@pytest.fixture
def http():
    s = http_session()
    yield s
    s.close()


def _backend_set():
    from backends import BackendSet  # tests/integration/backends.py

    bs = BackendSet()
    yield bs
    bs.stop_all()


@pytest.fixture
def backends():
    """Test origins on loopback (tests/integration/backends.py), stopped at teardown:
    `a = backends.http("a")` (a.url for the dynamic configuration), `backends.black_hole()`,
    `backends.hanging()`."""
    yield from _backend_set()


@pytest.fixture(scope="module")
def module_backends():
    """Like `backends`, shared by the tests of one module."""
    yield from _backend_set()


# ---- a private Docker engine (tests/integration/dockerd.py) --------------------------------


@pytest.fixture(scope="session")
def dockerd():
    """A private dockerd for the session (docs/TESTING.md), with the busybox image imported:
    `.socket`, `.docker_host`, `.endpoint` (for `providers.docker.endpoint`), `.run(name,
    labels=, network=, cmd=, health=)`, `.network(name)`, `.inspect(name)`, `.stop(name)`,
    `.remove(name)`, `.restart_engine()`. Everything it made is removed at session end, then
    dockerd is stopped. A missing or broken engine skips locally and fails with CI=true."""
    from dockerd import DockerEngine, DockerError, dockerd_available

    require_service("dockerd", dockerd_available,
                    "needs root and the docker.io and busybox-static packages")
    engine = DockerEngine()
    try:
        engine.start_engine()
        engine.import_busybox()
    except (DockerError, OSError, subprocess.SubprocessError) as e:
        engine.close()
        require_service("dockerd", False, f"the private engine did not start: {e}")
    except BaseException:
        engine.close()
        raise
    yield engine
    engine.close()


@pytest.fixture
def docker(dockerd):
    """The session's engine, for one test: containers, networks and compose projects made
    through it are removed when the test ends (`docker.run(...)`, `docker.network(...)`,
    `docker.compose(project, file, "up", "-d")`); everything else is the engine's."""
    from dockerd import Scope

    scope = Scope(dockerd)
    yield scope
    scope.close()
