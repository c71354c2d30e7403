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
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402  (bench/run.py: processes, wrk, rounds, templates, formatting)

B.LOG_PREFIX = "bench-upstream-tls"
log = B.log
DURATION, ROUNDS, WHARF_BIN = B.DURATION, B.ROUNDS, B.WHARF_BIN
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18700"))
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

# The start of both nginx configurations below ({name}: the backend, nginx), up to the inside
# of their http block.
NGINX_HEAD = """daemon off;
master_process on;
worker_processes {workers};
worker_rlimit_nofile 20000;
pid {dir}/{name}.pid;
error_log {dir}/{name}.error.log error;

events {{
    worker_connections 15000;
}}

http {{
    access_log off;
    # The proxies' pooled connections and wrk's last the whole run.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {dir}/{name}.tmp/body;
    proxy_temp_path {dir}/{name}.tmp/proxy;
"""

BACKEND_CONF = """# TLS backend (bench/upstream_tls.py): one nginx worker, the bench CA's leaf for {sni}.
""" + NGINX_HEAD + """
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
""" + NGINX_HEAD + """
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
        counters = B.stub_status(PORTS["status"])
        return counters[0] if counters else None

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


class Target(B.Target):
    def __init__(self, name, label, url, proc):
        super().__init__(name, label, None, proc)
        self.url = url
        self.warmup = None  # the 1 s run before the phase's rounds


def wrk(t, backend, seconds):
    argv = ["wrk", "-t1", "-c%d" % CONNS, "-d%ds" % seconds, "--latency", "--timeout", "5s",
            t.url]
    before = backend.snapshot()
    cpu0 = t.proc.cpu_ticks()
    run = B.run_wrk(argv, seconds)
    run["cpu"] = (t.proc.cpu_ticks() - cpu0) / TICK
    time.sleep(0.2)  # the backend writes a connection's line when its first request ends
    run.update(backend.delta(before))
    return run


def describe(run):
    """A progress line's figures: bench/run.py's, and the backend's connections."""
    return "%s  backend handshakes %s, accepts %s" % (B.rate_line(run), fmt_hs(run),
                                                       run.get("accepts", "?"))


def summary(t, phase):
    """bench/run.py's summary, and the backend's CPU time per request."""
    s = B.summary(t, phase)
    if s:
        bcpu = sum(r["backend_cpu"] for r in t.runs[phase])
        s["backend_cpu_us"] = bcpu / s["requests"] * 1e6 if s["requests"] else None
    return s


def fmt_hs(run):
    """Handshakes the backend logged in one run, and how many resumed: "14 (14 r)"."""
    if not run:
        return "?"
    return "%d (%d r)" % (run.get("conn_lines", 0), run.get("resumed", 0))



# ---------------------------------------------------------------------------------------------
# Main


def main():
    code = B.preflight(("nginx", "wrk", "openssl"), PORTS.values())
    if code:
        return code
    unknown = [t for t in TARGETS if t not in ALL_TARGETS]
    if unknown:
        log("unknown BENCH_TARGETS %s (known: %s)" % (unknown, ", ".join(ALL_TARGETS)))
        return 2
    want_wharf = any(t.startswith("wharf") for t in TARGETS)
    if want_wharf and not os.access(WHARF_BIN, os.X_OK):
        log("no wharf binary at %s (make build, or set WHARF_BIN)" % WHARF_BIN)
        return 2

    workdir = B.make_workdir("wharf-bench-upstream-tls.",
                             "certificates, configs and server output")
    t0 = time.time()
    load_before = os.getloadavg()
    nginx = B.which("nginx")

    def path(name):
        return os.path.join(workdir, name)

    ca, cert, key = make_pki(workdir)
    for d in ("backend.tmp", "nginx.tmp"):
        os.makedirs(path(d), exist_ok=True)
    if os.path.exists(path("backend-conns.log")):
        os.unlink(path("backend-conns.log"))
    bp = PORTS["backend"]
    with open(path("backend.conf"), "w") as f:
        f.write(BACKEND_CONF.format(dir=workdir, name="backend", workers=1, port=bp,
                                    status=PORTS["status"], cert=cert, key=key, sni=SNI))
    with open(path("nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=workdir, name="nginx", workers=2, port=PORTS["nginx"],
                                  backend=bp, ca=ca, sni=SNI, keepalive=NGINX_KEEPALIVE))
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
    res = B.wait_for(bproc, lambda: B.tls_get(bp, SNI, ca=ca),
                     lambda res: res.get("status") == 200, 15.0,
                     exited=lambda tail: {"error": "exited"})
    if res.get("status") != 200 or res.get("body") != B.BODY:
        log("backend did not come up (verified https with SNI %s): %s; %s"
            % (SNI, res.get("error") or "%s %r" % (res["status"], res["body"][:200]),
               bproc.tail()))
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
        status, body = B.wait_ready(t.proc, PORTS[t.name], seconds=15.0, status=200)
        if status == 200 and body == B.BODY:
            t.ok = True
            continue
        t.why = B.not_200(status, body)
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
        control = B.wait_for(p, lambda: B.http_get(PORTS["wharf-badname"]),
                             lambda res: res[0] in (200, 502), 15.0)
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
    B.interleaved(p1, "like", lambda t: wrk(t, backend, DURATION), describe)
    if p2:
        warm_up(p2, "defaults")
        log("phase 2, wharf's transport defaults: wrk -t1 -c%d, %d rounds x %d s" % (
            CONNS, ROUNDS, DURATION))
        B.interleaved(p2, "defaults", lambda t: wrk(t, backend, DURATION), describe)

    died = []
    for t in targets:
        if not t.proc.alive():
            t.died = t.proc.exit_note()
            log("%s %s" % (t.name, t.died))
    if not bproc.alive() and not any(t.proc is bproc for t in targets if t.died):
        died.append("the backend exited during the run: " + bproc.tail(3))
    elapsed = time.time() - t0
    load = (load_before, os.getloadavg())
    B.publish(build_report(targets, elapsed, load, workdir, died, control), SECTION)
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
    out = B.section_head(
        SECTION, "Written by `bench/upstream_tls.py`; bench/README.md (\"HTTPS backends\") "
        "explains the method. Same machine, one run, wrk -t1 -c%d over plain HTTP keep-alive "
        "to the proxy, which speaks TLS to a 1-worker nginx backend (19-byte 200); two phases "
        "of %d interleaved rounds x %d s per target; medians; throughput ratios are medians of "
        "per-round ratios." % (CONNS, ROUNDS, DURATION),
        elapsed, load, ("nginx", "wrk", "openssl"), wharf_built())
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
            r = B.paired(t, ng, phase) if ng and ng.runs.get(phase) else None
            runs = t.runs[phase]
            rows.append([
                t.label, B.fmt_range(s), B.fmt_x(r), B.fmt_time(s["p99"]),
                B.fmt_us(s["cpu_us"]), B.fmt_us(s["backend_cpu_us"]),
                "%s / %s" % (fmt_hs(w) if w else "-", ", ".join(fmt_hs(x) for x in runs)),
                "%s / %s" % (w.get("accepts", "?") if w else "-",
                             ", ".join(str(x.get("accepts", "?")) for x in runs)),
                B.fmt_errors(s),
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
        r = B.paired(t, ng, phase)
        sw, sn = summary(t, phase), summary(ng, phase)
        valid = not (sw["non2xx"] or sw["errors"] or sw["failed"] or sn["non2xx"] or
                     sn["errors"] or sn["failed"] or t.died or ng.died)
        met = r is not None and r >= 1.0
        status = ("met" if met else "**not met**") if valid else "**invalid** (errors above)"
        rows.append([text, B.fmt_x(r), B.fmt_rounds(t, ng, phase),
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
    B.run_main(main)
