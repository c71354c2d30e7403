#!/usr/bin/env python3
"""HTTPS backends: wharf against nginx, both proxying plain HTTP to a TLS backend (issue 9).

The backend is one nginx worker serving TLS on loopback (ECDSA P-256 leaf for backend.example,
issued by a private CA made here with the openssl CLI; session cache and tickets on) and
answering the 19-byte 200 of bench/run.py. In front of it, with wrk -t1 -c64 over plain HTTP
keep-alive, in two phases of interleaved rounds (docs/PERFORMANCE.md "Method"):

Phase 1, like for like:
- direct: wrk straight to the backend over https (reference: the backend's own ceiling);
- nginx, 2 workers, `proxy_pass https://up` with `keepalive 64`, `proxy_ssl_session_reuse on`,
  `proxy_ssl_verify on` against the CA, `proxy_ssl_name backend.example`, SNI on;
- wharf, 2 workers, a file-provider route to https://127.0.0.1:BACKEND with the
  serversTransport `{serverName: backend.example, rootCAs: [ca.pem], maxIdleConnsPerHost: 64}`
  (verification on; nginx's pool size, also per worker).
Phase 2, last, against the same nginx: wharf with the transport's defaults (no
maxIdleConnsPerHost: the static default's 200 per backend per worker; Traefik would keep Go's 2,
and wharf did until this benchmark showed it opening a TLS connection for most requests at
-c64, so this phase stays last in case a default regresses to that).

For each: req/s, p99, the proxy's CPU time per request and the backend's (utime+stime of the
server's processes from /proc/<pid>/stat over requests completed), and the TLS connections the
backend accepted during each run: TCP accepts from its stub_status (a plain listener of its own,
outside the measured traffic), and, from a log line the backend writes for the first request of
each connection only (`if=$first`, so nothing in steady keep-alive), how many of them resumed a
session, with the protocol and the SNI the proxy sent.

Checks before measuring: each target must answer the backend's own 200 (a proxy that answers
502, e.g. a wharf built without https backends, fails the run loudly: no figure is reported
for it and nothing is written); a wharf whose transport names another serverName must answer
502 (verification is really on). Any non-2xx response or socket error during the measured
runs is printed in bold in the section and the script exits with status 1.

Servers are started, stopped and tracked with bench/run.py's helpers (their own sessions,
whole process groups killed on exit, failure or signal; group ids in $BENCH_WORKDIR/pgids).

Environment: WHARF_BIN (default build/release/wharf), BENCH_DURATION (seconds per run, 5),
BENCH_ROUNDS (3), BENCH_PORT_BASE (18700; uses base to base+41), BENCH_TARGETS (the targets to
measure, comma-separated; default direct,nginx,wharf,wharf-64), BENCH_RESULTS (default
bench/RESULTS.md, "-" for stdout only), BENCH_WORKDIR (default a new
/tmp/wharf-bench-upstream-tls.* directory).
"""
import datetime
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402  (bench/run.py: process handling, templates, formatting)

DURATION = int(os.environ.get("BENCH_DURATION", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18700"))
WHARF_BIN = os.environ.get("WHARF_BIN", os.path.join(B.ROOT, "build", "release", "wharf"))
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(HERE, "RESULTS.md"))
ALL_TARGETS = ("direct", "nginx", "wharf", "wharf-64")
PHASES = {"like": ("direct", "nginx", "wharf-64"), "defaults": ("nginx", "wharf")}
TARGETS = [t.strip() for t in os.environ.get("BENCH_TARGETS", ",".join(ALL_TARGETS)).split(",")
           if t.strip()]
SECTION = "## HTTPS backends (bench/upstream_tls.py)"
SNI = "backend.example"
CONNS = 64
NGINX_KEEPALIVE = 64
TICK = B.TICK

PORTS = {
    "backend": PORT_BASE,
    "status": PORT_BASE + 1,
    "nginx": PORT_BASE + 10,
    "wharf": PORT_BASE + 20,
    "wharf-admin": PORT_BASE + 21,
    "wharf-64": PORT_BASE + 30,
    "wharf-64-admin": PORT_BASE + 31,
    "wharf-badname": PORT_BASE + 40,
    "wharf-badname-admin": PORT_BASE + 41,
}

BACKEND_CONF = """# TLS backend (bench/upstream_tls.py): one nginx worker, the bench CA's leaf for {sni}.
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {dir}/backend.pid;
error_log {dir}/backend.error.log error;

events {{
    worker_connections 15000;
}}

http {{
    access_log off;
    # The proxies' pooled connections last the whole run.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/backend.tmp;

    # One line per TLS connection: the first request on it (nothing in steady keep-alive).
    map $connection_requests $first_on_conn {{
        1       1;
        default 0;
    }}
    log_format conn '$connection $ssl_protocol $ssl_session_reused sni=$ssl_server_name';

    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:BENCH:10m;
        ssl_session_tickets on;
        ssl_session_timeout 1h;
        access_log {dir}/backend-conns.log conn if=$first_on_conn;
        default_type text/plain;
        location / {{
            return 200 "hello from backend\\n";
        }}
    }}

    # Connection counters (stub_status) on a plain port of their own, outside the measured
    # traffic.
    server {{
        listen 127.0.0.1:{status};
        location / {{
            stub_status;
        }}
    }}
}}
"""

NGINX_CONF = """# nginx proxying to the TLS backend (bench/upstream_tls.py): 2 workers, upstream keep-alive,
# TLS session reuse, verification against the bench CA, SNI {sni}.
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 20000;
pid {dir}/nginx.pid;
error_log {dir}/nginx.error.log error;

events {{
    worker_connections 15000;
}}

http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/nginx.tmp/body;
    proxy_temp_path {dir}/nginx.tmp/proxy;

    upstream up {{
        server 127.0.0.1:{backend};
        keepalive {keepalive};
        # nginx's defaults (1000 requests, 60 s) would close pooled connections mid-run and
        # add handshakes that wharf's pool does not make.
        keepalive_requests 100000000;
        keepalive_timeout 300s;
    }}

    proxy_http_version 1.1;
    proxy_set_header Connection "";
    # nginx 1.22's default is TLSv1 TLSv1.1 TLSv1.2 (1.3 joined the default in 1.23.4); wharf,
    # like Go, offers 1.2 and 1.3.
    proxy_ssl_protocols TLSv1.2 TLSv1.3;
    proxy_ssl_session_reuse on;
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate {ca};
    proxy_ssl_name {sni};
    proxy_ssl_server_name on;

    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            proxy_pass https://up;
        }}
    }}
}}
"""

WHARF_DYNAMIC = """# One route to the TLS backend through a verifying serversTransport (bench/upstream_tls.py).
http:
  routers:
    bench:
      rule: "PathPrefix(`/`)"
      entryPoints: [web]
      service: backend
  services:
    backend:
      loadBalancer:
        servers:
          - url: "https://127.0.0.1:{backend}"
        serversTransport: st
  serversTransports:
    st:
      serverName: {server_name}
      rootCAs: ["{ca}"]
{extra}"""


def log(msg):
    print("bench-upstream-tls: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Certificates


def make_pki(workdir):
    """A private CA and a leaf for SNI (SAN DNS only, so a proxy that checks the IP instead of
    the name fails), both ECDSA P-256. Returns (ca.pem, leaf.pem, leaf.key)."""
    def p(name):
        return os.path.join(workdir, name)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)

    ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "30",
         "-subj", "/CN=wharf bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    ossl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", p("backend.key"), "-out", p("backend.csr"), "-subj", "/CN=" + SNI)
    with open(p("backend.ext"), "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=DNS:%s\n" % SNI)
    ossl("x509", "-req", "-in", p("backend.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
         "-CAcreateserial", "-out", p("backend.pem"), "-days", "30", "-sha256",
         "-extfile", p("backend.ext"))
    ossl("verify", "-CAfile", p("ca.pem"), p("backend.pem"))
    # nginx's workers drop to nobody when started as root; they read nothing here after
    # start-up, but the directory must be traversable for its temp paths.
    os.chmod(workdir, 0o755)
    return p("ca.pem"), p("backend.pem"), p("backend.key")


# ---------------------------------------------------------------------------------------------
# The backend's counters


class Backend:
    def __init__(self, proc, conn_log):
        self.proc, self.conn_log = proc, conn_log
        self.offset = 0

    def accepts(self):
        """Connections the backend has accepted (stub_status), the status request's included."""
        status, body = B.http_get(PORTS["status"])
        if status != 200:
            return None
        m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", body)
        return int(m.group(1)) if m else None

    def new_conn_lines(self):
        """The connection-log lines written since the last call."""
        try:
            with open(self.conn_log, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a line being written stays for next time
        self.offset += end
        return data[:end].decode(errors="replace").splitlines()

    def snapshot(self):
        self.new_conn_lines()
        return {"accepts": self.accepts(), "cpu": self.proc.cpu_ticks()}

    def delta(self, before):
        after_acc = self.accepts()
        cpu = (self.proc.cpu_ticks() - before["cpu"]) / TICK
        lines = self.new_conn_lines()
        out = {"backend_cpu": cpu, "conn_lines": len(lines),
               "resumed": sum(1 for l in lines if len(l.split()) >= 3 and l.split()[2] == "r"),
               "seen": sorted({" ".join(l.split()[1:2] + l.split()[3:4]) for l in lines})}
        if before["accepts"] is not None and after_acc is not None:
            # The "after" status request is itself one accepted connection.
            out["accepts"] = after_acc - before["accepts"] - 1
        return out


# ---------------------------------------------------------------------------------------------
# Targets and the client


class Target:
    def __init__(self, name, label, url, proc):
        self.name, self.label, self.url, self.proc = name, label, url, proc
        self.ok = False
        self.why = ""
        self.runs = {}  # phase -> list of measured runs
        self.warmup = None
        self.died = ""


def parse_wrk(text):
    run = {"raw": text}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    run["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    run["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    run["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    run["errors"] = sum(int(x) for x in m.groups()) if m else 0
    m = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    run["p99"] = B.parse_latency(m.group(1)) if m else None
    return run


def wrk(t, backend, seconds):
    argv = ["wrk", "-t1", "-c%d" % CONNS, "-d%ds" % seconds, "--latency", "--timeout", "5s",
            t.url]
    before = backend.snapshot()
    cpu0 = t.proc.cpu_ticks()
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        out = subprocess.CompletedProcess(argv, -1, "", "wrk did not finish in time")
    cpu = (t.proc.cpu_ticks() - cpu0) / TICK
    time.sleep(0.2)  # the backend writes a connection's line when its first request ends
    run = parse_wrk(out.stdout)
    run["cpu"] = cpu
    run.update(backend.delta(before))
    if out.returncode != 0 or run["requests"] == 0:
        run["failed"] = (out.stderr or out.stdout).strip()[-300:]
    return run


def interleaved(targets, backend, phase):
    for r in range(ROUNDS):
        # Rotate the order each round so that no target always runs first or last.
        order = targets[r % len(targets):] + targets[:r % len(targets)]
        for t in order:
            run = wrk(t, backend, DURATION)
            t.runs.setdefault(phase, []).append(run)
            log("%-9s round %d/%d %9.0f req/s  p99 %-9s backend handshakes %s, accepts %s%s%s" % (
                t.name, r + 1, ROUNDS, run["rps"], B.fmt_time(run.get("p99")), fmt_hs(run),
                run.get("accepts", "?"),
                "  NON-2XX %d ERRORS %d" % (run["non2xx"], run["errors"])
                if run["non2xx"] or run["errors"] else "",
                "  FAILED: " + run["failed"][-120:] if "failed" in run else ""))


def summary(t, phase):
    runs = t.runs.get(phase, [])
    if not runs:
        return None
    reqs = sum(r["requests"] for r in runs)
    cpu = sum(r["cpu"] for r in runs)
    bcpu = sum(r["backend_cpu"] for r in runs)
    acc = [r["accepts"] for r in runs if "accepts" in r]
    return {
        "rps": B.med([r["rps"] for r in runs]),
        "rps_min": min(r["rps"] for r in runs),
        "rps_max": max(r["rps"] for r in runs),
        "p99": B.med([r["p99"] for r in runs]),
        "cpu_us": cpu / reqs * 1e6 if reqs else None,
        "backend_cpu_us": bcpu / reqs * 1e6 if reqs else None,
        "accepts": acc,
        "resumed": [r["resumed"] for r in runs],
        "conn_lines": sum(r["conn_lines"] for r in runs),
        "seen": sorted({s for r in runs + [t.warmup or {}] for s in r.get("seen", [])}),
        "requests": reqs,
        "non2xx": sum(r["non2xx"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "failed": sum(1 for r in runs if "failed" in r),
    }


def fmt_hs(run):
    """Handshakes the backend logged in one run, and how many resumed: "14 (14 r)"."""
    if not run:
        return "?"
    return "%d (%d r)" % (run.get("conn_lines", 0), run.get("resumed", 0))


def round_ratios(a, b, phase, key="rps"):
    ra, rb = a.runs.get(phase, []), b.runs.get(phase, [])
    return [x[key] / y[key] for x, y in zip(ra, rb) if x.get(key) and y.get(key)]


def paired(a, b, phase, key="rps"):
    """Median of per-round ratios (bench/run.py's paired, on this script's run lists)."""
    ratios = round_ratios(a, b, phase, key)
    return statistics.median(ratios) if ratios else None


def wait_200(proc, url, seconds=15.0):
    """Waits for the backend's own 200 through url; returns the last (status, body)."""
    port = int(re.search(r":(\d+)/", url).group(1))
    deadline = time.time() + seconds
    last = (None, b"not started")
    while time.time() < deadline:
        if not proc.alive():
            return None, ("exited: " + proc.tail()).encode()
        last = B.http_get(port)
        # A proxy may listen before its routes are loaded: wait for the 200 itself.
        if last[0] == 200:
            return last
        time.sleep(0.2)
    return last


def https_get(port, ca):
    """One request to the backend itself, verified against the CA with SNI backend.example."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=ca)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as raw:
            with ctx.wrap_socket(raw, server_hostname=SNI) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                          % SNI.encode())
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
    except (OSError, ssl.SSLError) as e:
        return None, str(e).encode()
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else None), body


# ---------------------------------------------------------------------------------------------
# Main


def main():
    for tool in ("nginx", "wrk", "openssl"):
        if not shutil.which(tool) and not os.path.exists("/usr/sbin/" + tool):
            log("%s is not installed: run scripts/setup.sh --bench" % tool)
            return 2
    unknown = [t for t in TARGETS if t not in ALL_TARGETS]
    if unknown:
        log("unknown BENCH_TARGETS %s (known: %s)" % (unknown, ", ".join(ALL_TARGETS)))
        return 2
    want_wharf = any(t.startswith("wharf") for t in TARGETS)
    if want_wharf and not os.access(WHARF_BIN, os.X_OK):
        log("no wharf binary at %s (make build, or set WHARF_BIN)" % WHARF_BIN)
        return 2
    busy = [p for p in PORTS.values() if not B.port_free(p)]
    if busy:
        log("ports in use: %s (set BENCH_PORT_BASE)" % busy)
        return 2

    workdir = os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(
        prefix="wharf-bench-upstream-tls.")
    os.makedirs(workdir, exist_ok=True)
    B.PGIDS.append(os.path.join(workdir, "pgids"))
    open(B.PGIDS[0], "w").close()  # a reused work directory must not name old groups
    log("work directory %s (certificates, configs and server output)" % workdir)
    t0 = time.time()
    load_before = os.getloadavg()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"

    def path(name):
        return os.path.join(workdir, name)

    ca, cert, key = make_pki(workdir)
    for d in ("backend.tmp", "nginx.tmp"):
        os.makedirs(path(d), exist_ok=True)
    if os.path.exists(path("backend-conns.log")):
        os.unlink(path("backend-conns.log"))
    bp = PORTS["backend"]
    with open(path("backend.conf"), "w") as f:
        f.write(BACKEND_CONF.format(dir=workdir, port=bp, status=PORTS["status"], cert=cert,
                                    key=key, sni=SNI))
    with open(path("nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=workdir, port=PORTS["nginx"], backend=bp, ca=ca, sni=SNI,
                                  keepalive=NGINX_KEEPALIVE))
    variants = {  # wharf target -> (serverName, extra transport lines)
        "wharf": (SNI, ""),
        "wharf-64": (SNI, "      maxIdleConnsPerHost: %d\n" % NGINX_KEEPALIVE),
        "wharf-badname": ("other.example", ""),
    }
    for name, (server_name, extra) in variants.items():
        with open(path(name + "-dynamic.yml"), "w") as f:
            f.write(WHARF_DYNAMIC.format(backend=bp, server_name=server_name, ca=ca, extra=extra))
        B.render("wharf.yml", path(name + ".yml"), PORT=PORTS[name],
                 ADMIN_PORT=PORTS[name + "-admin"], DYNAMIC=path(name + "-dynamic.yml"))
        # Warnings too: a failed TLS connection to the backend is logged at warning level, and
        # nothing is logged per request when all goes well.
        with open(path(name + ".yml")) as f:
            text = f.read()
        with open(path(name + ".yml"), "w") as f:
            f.write(text.replace("level: ERROR", "level: WARN"))

    bproc = B.start("backend", [nginx, "-p", workdir, "-e", path("backend.error.log"),
                                "-c", path("backend.conf")], workdir)
    backend = Backend(bproc, path("backend-conns.log"))
    deadline = time.time() + 15
    status, body = None, b"not started"
    while time.time() < deadline and bproc.alive():
        status, body = https_get(bp, ca)
        if status == 200:
            break
        time.sleep(0.1)
    if status != 200 or body != B.BODY:
        log("backend did not come up (verified https with SNI %s): %s %r; %s"
            % (SNI, status, body[:200], bproc.tail()))
        return 1
    if backend.accepts() is None:
        log("backend's stub_status on port %d does not answer" % PORTS["status"])
        return 1

    labels = {
        "direct": "direct to the backend (https, no proxy)",
        "nginx": "nginx 1.22, 2 workers, keepalive %d" % NGINX_KEEPALIVE,
        "wharf": "wharf, 2 workers, transport defaults (maxIdleConnsPerHost unset)",
        "wharf-64": "wharf, 2 workers, maxIdleConnsPerHost: %d" % NGINX_KEEPALIVE,
    }
    targets = []
    for name in TARGETS:
        if name == "direct":
            t = Target(name, labels[name], "https://127.0.0.1:%d/" % bp, bproc)
        elif name == "nginx":
            t = Target(name, labels[name], "http://127.0.0.1:%d/" % PORTS[name], B.start(
                name, [nginx, "-p", workdir, "-e", path("nginx.error.log"), "-c",
                       path("nginx.conf")], workdir))
        else:
            t = Target(name, labels[name], "http://127.0.0.1:%d/" % PORTS[name], B.start(
                name, [WHARF_BIN, "--configFile=" + path(name + ".yml")], workdir))
        targets.append(t)

    # Every target must relay the backend's own 200 before it is measured.
    failed = []
    for t in targets:
        if t.name == "direct":
            t.ok = True
            continue
        status, body = wait_200(t.proc, t.url)
        if status == 200 and body == B.BODY:
            t.ok = True
            continue
        t.why = ("answered %s %r, not the backend's 200" % (status, body[:80])
                 if status is not None else body.decode(errors="replace")[:200])
        failed.append(t)
    if failed:
        for t in failed:
            log("*** %s does not relay the backend's 200: %s ***" % (t.name, t.why))
            if t.name.startswith("wharf"):
                log("*** a 502 from wharf here means this build cannot reach an https backend "
                    "(not supported yet, or the TLS to the backend failed); its log (%s) ends "
                    "with: ***\n%s" % (t.proc.log_path, t.proc.tail(5) or "(nothing)"))
        log("FAILED: nothing measured, nothing written")
        return 1

    # Verification is on: the same transport naming another server must be refused.
    control = None
    if want_wharf:
        p = B.start("wharf-badname", [WHARF_BIN, "--configFile=" + path("wharf-badname.yml")],
                    workdir)
        deadline = time.time() + 15
        control = (None, b"not started")
        while time.time() < deadline and p.alive():
            control = B.http_get(PORTS["wharf-badname"])
            if control[0] in (200, 502):
                break
            time.sleep(0.2)
        p.stop()
        if control[0] != 502:
            log("*** wharf with serverName other.example answered %s %r, not 502: the "
                "backend's certificate is not verified ***" % (control[0], control[1][:80]))
            log("FAILED: nothing measured, nothing written")
            return 1
        log("control: wharf with serverName other.example answers 502 (verification on)")

    def warm_up(ts, phase):  # pools, sessions, buffers; the handshakes are reported apart
        for t in ts:
            if t.warmup is None:
                t.warmup = wrk(t, backend, 1)
                t.warmup["phase"] = phase
                log("%-9s warm-up: backend handshakes %s, accepts %s; %s" % (
                    t.name, fmt_hs(t.warmup), t.warmup.get("accepts", "?"),
                    ", ".join(t.warmup["seen"])))

    # Phase 1, like for like: the same pool size (64 per worker) in both proxies. Phase 2, the
    # transport's defaults, last and against nginx again: should a default regress to Go's 2
    # idle connections, it opens thousands of connections per second, whose CPU and TIME_WAIT
    # sockets must not sit between the runs of phase 1.
    p1 = [t for t in targets if t.name in PHASES["like"]]
    p2 = [t for t in targets if t.name in PHASES["defaults"]]
    if not any(t.name == "wharf" for t in p2):
        p2 = []
    warm_up(p1, "like")
    log("phase 1, pools of %d: wrk -t1 -c%d, %d rounds x %d s" % (NGINX_KEEPALIVE, CONNS,
                                                                  ROUNDS, DURATION))
    interleaved(p1, backend, "like")
    if p2:
        warm_up(p2, "defaults")
        log("phase 2, wharf's transport defaults: wrk -t1 -c%d, %d rounds x %d s" % (
            CONNS, ROUNDS, DURATION))
        interleaved(p2, backend, "defaults")

    died = []
    for t in targets:
        if not t.proc.alive():
            t.died = "exited during the run (code %s): %s" % (t.proc.popen.returncode,
                                                              t.proc.tail(3))
            log("%s %s" % (t.name, t.died))
    if not bproc.alive() and not any(t.proc is bproc for t in targets if t.died):
        died.append("the backend exited during the run: " + bproc.tail(3))
    elapsed = time.time() - t0
    load = (load_before, os.getloadavg())
    report = build_report(targets, elapsed, load, workdir, died, control)
    print(report)
    if RESULTS != "-":
        B.write_section(RESULTS, SECTION, report)
        log("wrote the HTTPS-backends section of %s" % RESULTS)
    bad = [t for t in targets if t.died or any(r["non2xx"] or r["errors"] or "failed" in r
                                                for rs in t.runs.values() for r in rs)]
    if bad or died:
        log("FAILED: non-2xx responses, socket errors or a server exit in %s"
            % (", ".join(t.name for t in bad) or "the backend"))
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# Report


def wharf_built():
    """wharf_version names the tree at report time; the binary may be older than that."""
    try:
        when = datetime.datetime.fromtimestamp(os.path.getmtime(WHARF_BIN)).astimezone()
        return "%s, binary %s built %s" % (B.wharf_version(WHARF_BIN), WHARF_BIN,
                                           when.strftime("%Y-%m-%d %H:%M %Z"))
    except OSError:
        return B.wharf_version(WHARF_BIN)


def build_report(targets, elapsed, load, workdir, died, control):
    by = {t.name: t for t in targets}
    ng = by.get("nginx")
    out = [SECTION, ""]
    out.append("Written by `bench/upstream_tls.py`; bench/README.md (\"HTTPS backends\") explains "
               "the method. Same machine, one run, wrk -t1 -c%d over plain HTTP keep-alive to the "
               "proxy, which speaks TLS to a 1-worker nginx backend (19-byte 200); two phases of "
               "%d interleaved rounds x %d s per target; medians; throughput ratios are medians "
               "of per-round ratios." % (CONNS, ROUNDS, DURATION))
    out.append("")
    out.append("- date: %s; run took %.0f s; load average (1 min) %.2f before, %.2f after"
               % (datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), elapsed,
                  load[0][0], load[1][0]))
    out.append("- machine: %s" % B.machine())
    out.append("- versions: nginx %s, wrk %s, %s, %s" % (
        B.version(["nginx", "-v"], r"nginx/(\S+)"), B.version(["wrk", "-v"], r"wrk (\S+)"),
        B.version(["openssl", "version"], r"(OpenSSL \S+)"), wharf_built()))
    out.append("- backend: nginx, 1 worker, TLS 1.2/1.3, ECDSA P-256 leaf for `%s` (SAN DNS "
               "only) from a private CA, `ssl_session_cache shared` and tickets on, keep-alive "
               "without limits. Both proxies verify it against the CA, with SNI and name `%s`: "
               "nginx `proxy_ssl_verify on; proxy_ssl_trusted_certificate; proxy_ssl_name; "
               "proxy_ssl_server_name on; proxy_ssl_session_reuse on; proxy_ssl_protocols "
               "TLSv1.2 TLSv1.3`, upstream `keepalive %d`; wharf `serversTransport: "
               "{serverName: %s, rootCAs: [ca.pem]}`, plus `maxIdleConnsPerHost: %d` in phase 1."
               % (SNI, SNI, NGINX_KEEPALIVE, SNI, NGINX_KEEPALIVE))
    if control is not None:
        out.append("- control: a wharf with the same transport but `serverName: other.example` "
                   "answered %s (the backend's certificate is verified)." % control[0])
    for t in targets:
        if t.died:
            out.append("- **%s %s**; its figures are not valid." % (t.label, t.died))
    for d in died:
        out.append("- **%s**; figures after that are not valid." % d)
    for t in targets:
        for phase, runs in t.runs.items():
            s = summary(t, phase)
            if s["non2xx"] or s["errors"] or s["failed"]:
                out.append("- **%s (phase %s): %d non-2xx responses, %d socket errors, %d failed "
                           "runs**; its figures are not valid." % (
                               t.label, phase, s["non2xx"], s["errors"], s["failed"]))
    out.append("")
    out.append("CPU/req: utime+stime of all the proxy's processes (`/proc/<pid>/stat`) / "
               "requests wrk completed, over the rounds; for the direct row, the backend's own. "
               "Backend CPU/req: the backend's, the same way. TLS handshakes: the TLS "
               "connections the backend served a request on, from a log line it writes for the "
               "first request of each connection only (`access_log ... if=$first_on_conn`), "
               "in the 1 s warm-up (the proxy's pool filling) and in each measured run; "
               "`r`: how many of them resumed a session (`$ssl_session_reused`). TCP accepts: "
               "the backend's stub_status `accepts` (on a plain listener of its own) over the "
               "same spans, a cross-check that counts connections even without a request; in "
               "the direct row it includes the one plain connect wrk makes at start to test the "
               "address. The direct row's handshakes are wrk's own %d connections per run.\n"
               % CONNS)

    def rows_for(ts, phase):
        rows = []
        for t in ts:
            s = summary(t, phase)
            if not s:
                rows.append([t.label, "pending (%s)" % (t.why or "-")] + [""] * 7)
                continue
            w = t.warmup if t.warmup and t.warmup.get("phase", phase) == phase else None
            r = paired(t, ng, phase) if ng and ng.runs.get(phase) else None
            runs = t.runs[phase]
            rows.append([
                t.label, "%.0f (%.0f-%.0f)" % (s["rps"], s["rps_min"], s["rps_max"]),
                B.fmt_x(r), B.fmt_time(s["p99"]),
                "%.1f us" % s["cpu_us"] if s["cpu_us"] is not None else "-",
                "%.1f us" % s["backend_cpu_us"] if s["backend_cpu_us"] is not None else "-",
                "%s / %s" % (fmt_hs(w) if w else "-", ", ".join(fmt_hs(x) for x in runs)),
                "%s / %s" % (w.get("accepts", "?") if w else "-",
                             ", ".join(str(x.get("accepts", "?")) for x in runs)),
                "%d / %d%s" % (s["non2xx"], s["errors"],
                               " (%d runs failed)" % s["failed"] if s["failed"] else ""),
            ])
        return rows

    header = ["target", "req/s median (min-max)", "/ nginx", "p99", "CPU/req",
              "backend CPU/req", "TLS handshakes at the backend: warm-up / each run",
              "TCP accepts: warm-up / each run", "non-2xx / socket errors"]
    p1 = [t for t in targets if t.name in PHASES["like"]]
    p2 = [t for t in targets if t.name in PHASES["defaults"] and t.runs.get("defaults")]
    out.append("### Phase 1: the same pool size (wrk -t1 -c%d)\n" % CONNS)
    out.append("nginx `keepalive %d` and wharf `maxIdleConnsPerHost: %d` (both per worker, 2 "
               "workers each).\n" % (NGINX_KEEPALIVE, NGINX_KEEPALIVE))
    out.append(B.table(header, rows_for(p1, "like")))
    out.append("")
    if p2:
        out.append("### Phase 2: wharf's transport defaults (wrk -t1 -c%d)\n" % CONNS)
        out.append("wharf with the transport as named above and no `maxIdleConnsPerHost`: it "
                   "then keeps the static default transport's pool size (200 per backend and "
                   "worker), where Traefik keeps Go's 2 and opens a new TLS connection for most "
                   "requests with %d in flight. Run after phase 1, against the same nginx "
                   "(measured again, the ratio is paired within this phase).\n" % CONNS)
        out.append(B.table(header, rows_for(p2, "defaults")))
        out.append("")
    seen = []
    for t in targets:
        lines = sorted({x for rs in t.runs.values() for r in rs + [t.warmup or {}]
                        for x in r.get("seen", [])})
        if lines:
            seen.append("%s: %s" % (t.name, "; ".join(lines)))
    out.append("Protocol and SNI of the backend's TLS connections, as it logged them: %s."
               % " | ".join(seen))
    out.append("")

    out.append("### wharf against nginx with an HTTPS backend (issue 9: >= 1.0x)\n")
    rows = []
    lines = []
    for name, phase, what in (("wharf-64", "like", "same pool size, maxIdleConnsPerHost: %d"
                               % NGINX_KEEPALIVE),
                              ("wharf", "defaults", "transport defaults")):
        t = by.get(name)
        text = "wharf (%s) / nginx: req/s >= 1.0x" % what
        if not (t and ng and t.runs.get(phase) and ng.runs.get(phase)):
            rows.append([text, "pending", "-", "-", "-", "pending"])
            continue
        r = paired(t, ng, phase)
        sw, sn = summary(t, phase), summary(ng, phase)
        valid = not (sw["non2xx"] or sw["errors"] or sw["failed"] or sn["non2xx"] or
                     sn["errors"] or sn["failed"] or t.died or ng.died)
        met = r is not None and r >= 1.0
        status = ("met" if met else "**not met**") if valid else "**invalid** (errors above)"
        rows.append([text, B.fmt_x(r), ", ".join("%.2f" % x for x in round_ratios(t, ng, phase)),
                     B.fmt_ratio(sw["p99"], sn["p99"]), B.fmt_ratio(sw["cpu_us"], sn["cpu_us"]),
                     status])
        lines.append("**wharf ≥ 1.0x nginx (%s): %s** (%s)." % (
            what, ("met" if met else "not met") if valid else "invalid", B.fmt_x(r)))
    out.append(B.table(["goal", "req/s (median)", "each round", "p99 ratio", "CPU/req ratio",
                        "status"], rows))
    out.append("")
    for line in lines:
        out.append(line)
        out.append("")
    out.append("Work directory of this run (certificates, configs, server output): `%s`."
               % workdir)
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, B.on_signal)
    signal.signal(signal.SIGINT, B.on_signal)
    signal.signal(signal.SIGHUP, B.on_signal)
    try:
        code = main()
    finally:
        B.stop_all()
    sys.exit(code)
