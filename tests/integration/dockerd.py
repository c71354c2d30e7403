"""A private Docker engine for the integration tests (docs/TESTING.md, "A private Docker engine").

`DockerEngine` starts `dockerd` in its own temporary directory, with its own socket, data root and
address pool (10.213.0.0/16), so that it never touches an engine the user runs. Containers on its
user-defined networks get 10.213.x.x addresses that the host reaches directly: that is how wharf
reaches them, as in production.

Backends are busybox `httpd` processes in a 2 MB image imported from the machine's static busybox
(`wharf-test/busybox:latest`). Each serves a host directory, mounted read-only at /www, whose
`id.txt` holds the container's name, so a test sees which replica answered. A health check can
look for /www/healthy, which the test creates from the host (`Container.set_healthy`).

The engine records every container, network and compose project it made; `cleanup()` removes
them (networks are bridges on the host, so they must not outlive the engine) and `close()` stops
dockerd and deletes its directory. `Scope` does the same for the things one test made.

Every wait here is a bounded poll with a deadline.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

IMAGE = "wharf-test/busybox:latest"
ADDRESS_POOL = "10.213.0.0/16"
# Subnets for networks that need fixed addresses (`--ip`); taken from the top of the engine's
# pool, which allocates from the bottom, so the two never meet in a test session.
FIXED_SUBNET_BASE = 250
PING_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0
BUSYBOX = "/bin/busybox"
HTTPD_PORT = 80


class DockerError(RuntimeError):
    pass


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=5.0):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


def dockerd_available():
    """True when this machine can run a private engine: the binaries are there and we are root
    (dockerd needs it for namespaces, mounts and bridges)."""
    return (
        shutil.which("dockerd") is not None
        and shutil.which("docker") is not None
        and os.path.exists(BUSYBOX)
        and os.geteuid() == 0
    )


class Container:
    """A container this engine made. `www` is the host directory served at /www."""

    def __init__(self, engine, name, www):
        self.engine = engine
        self.name = name
        self.www = www

    def inspect(self):
        return self.engine.inspect(self.name)

    def ip(self, network=None):
        return self.engine.ip(self.name, network)

    def url(self, path="/id.txt", network=None, port=HTTPD_PORT):
        return f"http://{self.ip(network)}:{port}{path}"

    def start(self):
        self.engine.start(self.name)

    def stop(self):
        self.engine.stop(self.name)

    def remove(self):
        self.engine.remove(self.name)

    def set_healthy(self, healthy=True):
        """Makes the default health command (`test -f /www/healthy`) pass or fail."""
        marker = self.www / "healthy"
        if healthy:
            marker.write_text("ok\n")
        elif marker.exists():
            marker.unlink()

    def health(self):
        h = (self.inspect().get("State") or {}).get("Health")
        return h.get("Status") if h else None

    def __repr__(self):
        return f"<Container {self.name}>"


class DockerEngine:
    """One private dockerd. Use `start_engine()` once, then the helpers; `close()` at the end."""

    def __init__(self, root=None):
        self.root = Path(root or tempfile.mkdtemp(prefix="wharf-dockerd-"))
        # A Unix socket path is limited to 107 bytes; mkdtemp under /tmp stays far below.
        self.socket = self.root / "docker.sock"
        self.docker_host = f"unix://{self.socket}"
        self.endpoint = self.docker_host  # what `providers.docker.endpoint` takes
        self.log_path = self.root / "dockerd.log"
        self.pidfile = self.root / "pid"
        self.proc = None
        self._log = None
        self.containers = {}  # name -> Container
        self.networks = []
        self.projects = {}  # compose project -> compose file
        self._fixed_subnets = 0
        (self.root / "www").mkdir(parents=True, exist_ok=True)
        (self.root / "config").mkdir(exist_ok=True)
        # The docker CLI and docker-compose talk only to this engine and read no user config
        # (credential helpers, contexts).
        self.env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(("DOCKER_", "COMPOSE_"))
        }
        self.env.update(DOCKER_HOST=self.docker_host, DOCKER_CONFIG=str(self.root / "config"))

    # ---- the daemon ---------------------------------------------------------------------

    def command(self):
        r = self.root
        return [
            "dockerd", "--host", self.docker_host,
            "--data-root", str(r / "data"), "--exec-root", str(r / "exec"),
            "--pidfile", str(self.pidfile), "--storage-driver", "vfs", "--bridge", "none",
            "--iptables=false", "--ip-masq=false",
            "--default-address-pool", f"base={ADDRESS_POOL},size=24",
        ]

    def start_engine(self, timeout=PING_TIMEOUT):
        """Starts dockerd (on the same data root when called again) and waits for /_ping."""
        if self.running():
            return
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise DockerError(
                    f"dockerd exited with status {self.proc.returncode}:\n{self.log_tail()}")
            if self.ping():
                return
            if time.monotonic() > deadline:
                raise DockerError(f"dockerd did not answer /_ping in {timeout}s:\n"
                                  f"{self.log_tail()}")
            time.sleep(0.1)

    def stop_engine(self, timeout=STOP_TIMEOUT):
        """Stops dockerd (SIGTERM; SIGKILL after `timeout`). Its containers stop with it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def restart_engine(self):
        """Stops dockerd and starts it again on the same data root (containers come back
        stopped: live-restore is off)."""
        self.stop_engine()
        self.start_engine()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ping(self):
        try:
            status, body = self.api("GET", "/_ping", timeout=1.0)
        except OSError:
            return False
        return status == 200 and body == b"OK"

    def log_tail(self, lines=30):
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def api(self, method, path, body=None, timeout=10.0):
        """One Engine API call over the socket; returns (status, raw body)."""
        conn = _UnixHTTPConnection(str(self.socket), timeout)
        try:
            headers = {}
            if body is not None:
                body = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def docker(self, *args, check=True, timeout=60.0, input=None):
        """Runs the docker CLI against this engine; returns its stdout (str)."""
        return self._run(["docker", *args], check, timeout, input)

    def _run(self, argv, check=True, timeout=60.0, input=None, cwd=None):
        p = subprocess.run(
            argv, input=input, capture_output=True, env=self.env, timeout=timeout, cwd=cwd,
        )
        out = p.stdout.decode(errors="replace")
        if check and p.returncode != 0:
            raise DockerError(f"{' '.join(argv)} failed ({p.returncode}):\n"
                              f"{p.stderr.decode(errors='replace')}{out}")
        return out

    # ---- image ----------------------------------------------------------------------------

    def import_busybox(self, tag=IMAGE):
        """Makes `tag` from the machine's static busybox: /bin/busybox plus a link per applet
        (sh and httpd among them), and the few directories a health command may use."""
        root = self.root / "image-root"
        shutil.rmtree(root, ignore_errors=True)
        (root / "bin").mkdir(parents=True)
        for d in ("tmp", "www", "etc"):
            (root / d).mkdir()
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, check=True,
                                 timeout=10).stdout.decode().split()
        for a in set(applets) | {"sh", "httpd"}:
            if a != "busybox" and "/" not in a:
                (root / "bin" / a).symlink_to("busybox")
        tar = subprocess.run(["tar", "-C", str(root), "-c", "."], capture_output=True,
                             check=True, timeout=60).stdout
        self._run(["docker", "import", "-", tag], input=tar, timeout=120)
        return tag

    # ---- networks and containers --------------------------------------------------------------

    def network(self, name, subnet=None, internal=False):
        """Creates a user-defined bridge network. `subnet=True` picks a fixed /24 (needed for
        `run(..., ip=...)`); returns (name, subnet or None)."""
        args = ["network", "create"]
        if subnet is True:
            subnet = f"10.213.{FIXED_SUBNET_BASE - self._fixed_subnets}.0/24"
            self._fixed_subnets += 1
        if subnet:
            args += ["--subnet", subnet]
        if internal:
            args.append("--internal")
        self.docker(*args, name)
        self.networks.append(name)
        return name, subnet

    def remove_network(self, name):
        self.docker("network", "rm", name, check=False)
        if name in self.networks:
            self.networks.remove(name)

    def www(self, name, text=None):
        """The host directory served by container `name`, holding id.txt = `text` or name."""
        d = self.root / "www" / name
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
        (d / "id.txt").write_text(name if text is None else text)
        return d

    def run(self, name, labels=None, network=None, cmd=None, health=None, ip=None, expose=(),
            port=HTTPD_PORT, start=True, extra=()):
        """Runs a busybox httpd backend named `name` serving /www (id.txt = name).

        labels: dict; network: a name or a list (the first at create time, the others
        connected before start); cmd: argv replacing the httpd command; health: a shell
        command, or True for `test -f /www/healthy` (every 1 s, one failure is unhealthy);
        ip: a fixed address on the first network; expose: extra container ports to expose
        (the httpd port is exposed unless cmd is given). Returns a Container; the time of
        `docker start` returning is its `started_at` (time.monotonic()).
        """
        if name in self.containers:
            raise DockerError(f"container {name} already made by this engine")
        www = self.www(name)
        nets = [network] if isinstance(network, str) else list(network or [])
        args = ["create", "--name", name, "--init", "--stop-timeout", "2",
                "-v", f"{www}:/www:ro"]
        for k, v in (labels or {}).items():
            args += ["--label", f"{k}={v}"]
        if nets:
            args += ["--network", nets[0]]
        if ip:
            args += ["--ip", ip]
        ports = list(expose)
        if cmd is None and port is not None and port not in ports:
            ports.append(port)
        for p in ports:
            args += ["--expose", str(p)]
        if health:
            hc = "test -f /www/healthy" if health is True else health
            args += ["--health-cmd", hc, "--health-interval", "1s", "--health-retries", "1",
                     "--health-timeout", "2s"]
        args += list(extra)
        args.append(IMAGE)
        args += list(cmd) if cmd else ["httpd", "-f", "-p", str(port), "-h", "/www"]
        self.docker(*args)
        c = Container(self, name, www)
        c.started_at = None
        self.containers[name] = c
        for n in nets[1:]:
            self.docker("network", "connect", n, name)
        if start:
            self.start(name)
        return c

    def start(self, name):
        self.docker("start", name)
        c = self.containers.get(name)
        if c is not None:
            c.started_at = time.monotonic()

    def stop(self, name, timeout=2):
        self.docker("stop", "-t", str(timeout), name)

    def remove(self, name):
        self.docker("rm", "-f", "-v", name, check=False)
        self.containers.pop(name, None)

    def inspect(self, name):
        return json.loads(self.docker("inspect", "--type", "container", name))[0]

    def ip(self, name, network=None):
        nets = self.inspect(name)["NetworkSettings"]["Networks"] or {}
        if network is None:
            if len(nets) != 1:
                raise DockerError(f"{name} is on {sorted(nets)}: name the network")
            network = next(iter(nets))
        return nets[network]["IPAddress"]

    def wait_http(self, url, want=None, timeout=15.0):
        """Polls `url` (a 10.213.x.x container address) until it answers 200 (with body
        `want`, when given); returns the body. Uses no proxy settings."""
        import requests

        s = requests.Session()
        s.trust_env = False
        deadline = time.monotonic() + timeout
        last = "no attempt"
        try:
            while True:
                try:
                    r = s.get(url, timeout=2)
                    if r.status_code == 200 and (want is None or r.text == want):
                        return r.text
                    last = f"{r.status_code} {r.text[:100]!r}"
                except requests.RequestException as e:
                    last = f"{type(e).__name__}: {e}"
                if time.monotonic() > deadline:
                    raise DockerError(f"{url} not answering after {timeout}s ({last})")
                time.sleep(0.1)
        finally:
            s.close()

    def wait_health(self, name, want, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            h = (self.inspect(name).get("State") or {}).get("Health") or {}
            if h.get("Status") == want:
                return
            if time.monotonic() > deadline:
                raise DockerError(f"{name} health is {h.get('Status')!r}, not {want!r}, "
                                  f"after {timeout}s")
            time.sleep(0.2)

    # ---- docker-compose -----------------------------------------------------------------------

    def compose(self, project, compose_file, *args, timeout=120.0):
        """Runs `docker-compose -p project -f compose_file args...` against this engine."""
        self.projects[project] = Path(compose_file)
        return self._run(["docker-compose", "-p", project, "-f", str(compose_file), *args],
                         timeout=timeout, cwd=str(Path(compose_file).parent))

    def compose_down(self, project):
        f = self.projects.pop(project, None)
        if f is not None and self.running():
            self._run(["docker-compose", "-p", project, "-f", str(f), "down", "-v", "-t", "1"],
                      check=False, cwd=str(f.parent))

    # ---- teardown -----------------------------------------------------------------------------

    def cleanup(self):
        """Removes every container, compose project and network this engine made (starting
        the engine again if a test left it stopped: its networks are bridges on the host)."""
        if self.proc is None:
            return
        if not self.running():
            self.start_engine()
        for p in list(self.projects):
            self.compose_down(p)
        for name in list(self.containers):
            self.remove(name)
        for n in list(self.networks):
            self.remove_network(n)
        # The engine is private, so whatever is still in it was made here too (a failed
        # `compose down`, a test's own CLI call): a network left behind would leave its bridge
        # on the host after dockerd stops.
        ids = self.docker("ps", "-aq", check=False).split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check=False)
        for n in self.docker("network", "ls", "--format", "{{.Name}}", check=False).split():
            if n not in ("bridge", "host", "none"):
                self.docker("network", "rm", n, check=False)

    def close(self):
        try:
            self.cleanup()
        finally:
            self.stop_engine()
            self._unmount_leftovers()
            shutil.rmtree(self.root, ignore_errors=True)

    def _unmount_leftovers(self):
        # A killed dockerd can leave its network namespaces mounted under exec-root; rmtree
        # would fail on them, so they go first (deepest first).
        prefix = str(self.root) + "/"
        try:
            with open("/proc/self/mounts") as f:
                mounts = [ln.split()[1] for ln in f if ln.split()[1].startswith(prefix)]
        except OSError:
            return
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True, timeout=10)


class Scope:
    """What one test made on the shared engine; `close()` removes exactly that. Attribute
    access falls through to the engine (`scope.endpoint`, `scope.inspect(...)`)."""

    def __init__(self, engine):
        self.engine = engine
        self.containers = []
        self.networks = []
        self.projects = []

    def __getattr__(self, item):
        return getattr(self.engine, item)

    def run(self, name, **kw):
        c = self.engine.run(name, **kw)
        self.containers.append(name)
        return c

    def network(self, name, **kw):
        r = self.engine.network(name, **kw)
        self.networks.append(name)
        return r

    def compose(self, project, compose_file, *args, **kw):
        if project not in self.projects:
            self.projects.append(project)
        return self.engine.compose(project, compose_file, *args, **kw)

    def close(self):
        if not self.engine.running():
            self.engine.start_engine()  # a test that stopped the engine hands it back running
        for p in self.projects:
            self.engine.compose_down(p)
        for name in self.containers:
            self.engine.remove(name)
        for n in self.networks:
            self.engine.remove_network(n)
