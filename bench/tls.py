#!/usr/bin/env python3
"""TLS benchmarks: wharf against nginx (termination) and HAProxy (SNI passthrough) on loopback.

Three measurements, each in interleaved rounds (docs/PERFORMANCE.md "Method", goals 8 and 9):

1. HTTPS keep-alive throughput: wrk -t2 -c64 over TLS to nginx (2 workers) and to wharf
   (2 workers), both terminating TLS and proxying to the plain backend of bench/run.py.
2. Full-handshake rate: parallel `openssl s_time -new -www /` clients, one new connection (a
   full TLS 1.3 handshake, never a resumption) and one HTTP/1.0 request per connection, against
   the same two targets. wrk is not used here: with `Connection: close` it resumes the session
   on every reconnect (checked: nginx logs $ssl_session_reused = "r").
3. SNI passthrough of 1 MiB responses: wrk -t2 -c16 with SNI bench.example through HAProxy
   (mode tcp, nbthread 2, req_ssl_sni) and through wharf (TCP router HostSNI + passthrough) to a
   1-worker nginx that terminates TLS itself; also wrk straight to that origin as a reference.
   wrk takes the SNI from the URL's host and resolves that host itself; the Lua script
   (sni.lua, written to the work directory) replaces wrk.resolve so that https://bench.example
   connects to 127.0.0.1 without touching /etc/hosts.

Every server uses the same ECDSA P-256 certificate, made here with the openssl CLI. Servers are
started, stopped and tracked with bench/run.py's helpers (their own sessions, whole process
groups killed on exit, failure or signal; group ids in $BENCH_WORKDIR/pgids).

Environment: WHARF_BIN (default build/release/wharf), BENCH_DURATION (seconds per run, 5),
BENCH_ROUNDS (3), BENCH_PORT_BASE (18300; uses base to base+51), BENCH_TLS_CLIENTS (parallel
s_time processes, 4), BENCH_RESULTS (default bench/RESULTS.md, "-" for stdout only),
BENCH_WORKDIR (default a new /tmp/wharf-bench-tls.* directory).
"""
import os
import re
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402  (bench/run.py: processes, wrk, rounds, templates, formatting)

B.LOG_PREFIX = "bench-tls"
log = B.log
DURATION, ROUNDS, WHARF_BIN = B.DURATION, B.ROUNDS, B.WHARF_BIN
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18300"))
CLIENTS = int(os.environ.get("BENCH_TLS_CLIENTS", "4"))
SECTION = "## TLS (bench/tls.py)"
SNI = "bench.example"
BIG = 1 << 20  # the passthrough response body: 1 MiB
BIG_CONNS = 16
TICK = B.TICK

PORTS = {
    "backend": PORT_BASE,
    "status": PORT_BASE + 1,
    "nginx": PORT_BASE + 10,
    "wharf": PORT_BASE + 20,
    "wharf-admin": PORT_BASE + 21,
    "origin": PORT_BASE + 30,
    "haproxy": PORT_BASE + 40,
    "wharf-pt": PORT_BASE + 50,
    "wharf-pt-admin": PORT_BASE + 51,
}

# s_time sends "GET <path> HTTP/1.0\r\n\r\n", without Host. Proxied as HTTP/1.1 with an empty
# Host, the backend answers 400; so the "path" carries a Host header, and the request line's
# own "HTTP/1.0" ends up as the value of a dummy header:
#   GET / HTTP/1.0\r\nHost: bench.example\r\nX-Bench: HTTP/1.0\r\n\r\n
S_TIME_PATH = "/ HTTP/1.0\r\nHost: %s\r\nX-Bench:" % SNI
S_TIME_REQUEST = b"GET " + S_TIME_PATH.encode() + b" HTTP/1.0\r\n\r\n"

SNI_LUA = """-- SNI and Host from the URL (https://bench.example:PORT/...), address 127.0.0.1:
-- wrk resolves the URL's host through wrk.resolve, which this replaces.
function wrk.resolve(host, service)
   wrk.addrs = wrk.lookup("127.0.0.1", service)
end
"""


# ---------------------------------------------------------------------------------------------
# Clients


def wait_tls(proc, port, sni, path="/", seconds=15.0):
    """Waits for a 200 over TLS (a proxy may listen before its routes are loaded); returns
    the last B.tls_get result."""
    return B.wait_for(proc, lambda: B.tls_get(port, sni, path),
                      lambda res: res.get("status") == 200, seconds,
                      exited=lambda tail: {"error": "exited: " + tail})


def wrk(url, conns, seconds, script):
    return B.run_wrk(["wrk", "-t2", "-c%d" % conns, "-d%ds" % seconds, "--latency",
                      "--timeout", "5s", "-s", script, url], seconds)


def s_time(port, seconds):
    """CLIENTS parallel `openssl s_time -new`: full handshakes (plus one HTTP/1.0 GET each).

    s_time stops at the first whole second of time() past -time, so its own "real seconds"
    are up to a second off; the rate here is each client's connections over the wall-clock
    time it ran, summed over the clients."""
    argv = ["openssl", "s_time", "-connect", "127.0.0.1:%d" % port, "-new", "-time",
            str(seconds), "-www", S_TIME_PATH]
    procs = []
    t0 = time.monotonic()
    for _ in range(CLIENTS):
        procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    rate, conns, per_conn, failed = 0.0, 0, [], []
    for p in procs:
        try:
            text, _ = p.communicate(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            p.kill()
            text, _ = p.communicate()
        wall = time.monotonic() - t0
        m = re.search(r"(\d+) connections in [\d.]+s; [\d.]+ connections/user sec, "
                      r"bytes read (\d+)", text)
        if not m or int(m.group(1)) == 0:
            failed.append(text.strip()[-300:])
            continue
        n, nbytes = int(m.group(1)), int(m.group(2))
        rate += n / wall
        conns += n
        per_conn.append(nbytes / n)
    run = {"rps": rate, "requests": conns, "bytes_per_conn": min(per_conn) if per_conn else 0,
           "non2xx": 0, "errors": 0, "p99": None}
    if failed:
        run["failed"] = failed[0]
    return run


# ---------------------------------------------------------------------------------------------
# Targets and rounds


class Target(B.Target):
    def __init__(self, name, label, proc, measure):
        super().__init__(name, label, None, proc)
        self.measure = measure  # seconds -> one run
        self.info = ""  # protocol and cipher the readiness check negotiated


def measure_cpu(t):
    """One run of t's measurement, with its server's CPU time (None without a server)."""
    before = t.proc.cpu_ticks() if t.proc else 0
    run = t.measure(DURATION)
    run["cpu"] = ((t.proc.cpu_ticks() - before) / TICK) if t.proc else None
    return run


# ---------------------------------------------------------------------------------------------
# Main


def make_cert(workdir):
    cert, key = os.path.join(workdir, "bench.pem"), os.path.join(workdir, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "30", "-subj", "/CN=" + SNI,
                    "-addext", "subjectAltName=DNS:%s,IP:127.0.0.1" % SNI],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def main():
    code = B.preflight(("nginx", "haproxy", "wrk", "openssl"), PORTS.values())
    if code:
        return code
    workdir = B.make_workdir("wharf-bench-tls.", "configs and server output")
    t0 = time.time()
    load_before = os.getloadavg()
    nginx, haproxy = B.which("nginx"), B.which("haproxy")

    def path(name):
        return os.path.join(workdir, name)

    cert, key = make_cert(workdir)
    with open(cert) as f:
        cert_der = ssl.PEM_cert_to_DER_cert(f.read())
    os.makedirs(path("www"), exist_ok=True)
    with open(path("www/1m"), "wb") as f:
        f.write(os.urandom(BIG))
    # nginx's workers drop to nobody when started as root, and must read the file.
    for p in (workdir, path("www")):
        os.chmod(p, 0o755)
    os.chmod(path("www/1m"), 0o644)
    with open(path("www/1m"), "rb") as f:
        big = f.read()
    with open(path("sni.lua"), "w") as f:
        f.write(SNI_LUA)
    for d in ("backend.tmp", "backend-tls.tmp", "nginx-tls.tmp"):
        os.makedirs(path(d), exist_ok=True)

    bp, op = PORTS["backend"], PORTS["origin"]
    B.render("backend.nginx.conf", path("backend.conf"), DIR=workdir, BACKEND_PORT=bp,
             STATUS_PORT=PORTS["status"])
    B.render("backend-tls.nginx.conf", path("backend-tls.conf"), DIR=workdir, PORT=op,
             CERT=cert, KEY=key)
    B.render("nginx-tls.conf", path("nginx-tls.conf"), DIR=workdir, PORT=PORTS["nginx"],
             BACKEND_PORT=bp, CERT=cert, KEY=key)
    B.render("haproxy-tcp.cfg", path("haproxy-tcp.cfg"), DIR=workdir, PORT=PORTS["haproxy"],
             BACKEND_PORT=op)
    B.render("wharf-tls-dynamic.yml", path("wharf-tls-dynamic.yml"), BACKEND_PORT=bp,
             CERT=cert, KEY=key)
    B.render("wharf.yml", path("wharf-tls.yml"), PORT=PORTS["wharf"],
             ADMIN_PORT=PORTS["wharf-admin"], DYNAMIC=path("wharf-tls-dynamic.yml"))
    B.render("wharf-passthrough-dynamic.yml", path("wharf-pt-dynamic.yml"), BACKEND_PORT=op)
    B.render("wharf.yml", path("wharf-pt.yml"), PORT=PORTS["wharf-pt"],
             ADMIN_PORT=PORTS["wharf-pt-admin"], DYNAMIC=path("wharf-pt-dynamic.yml"))

    backend = B.start("backend", [nginx, "-p", workdir, "-e", path("backend.error.log"),
                                  "-c", path("backend.conf")], workdir)
    origin = B.start("origin", [nginx, "-p", workdir, "-e", path("backend-tls.error.log"),
                                "-c", path("backend-tls.conf")], workdir)
    status, body = B.wait_ready(backend, bp)
    if status != 200 or body != B.BODY:
        log("backend did not come up: %s %r" % (status, body[:200]))
        return 1
    res = wait_tls(origin, op, SNI, "/1m")
    if res.get("status") != 200 or res.get("body") != big:
        log("TLS origin did not come up: %s" % res.get("error", res.get("status")))
        return 1

    have_wharf = os.access(WHARF_BIN, os.X_OK)
    commands = {
        "nginx": [nginx, "-p", workdir, "-e", path("nginx-tls.error.log"), "-c",
                  path("nginx-tls.conf")],
        "wharf": [WHARF_BIN, "--configFile=" + path("wharf-tls.yml")],
        "haproxy": [haproxy, "-db", "-f", path("haproxy-tcp.cfg")],
        "wharf-pt": [WHARF_BIN, "--configFile=" + path("wharf-pt.yml")],
    }
    started = {}
    for name, argv in commands.items():
        if name.startswith("wharf") and not have_wharf:
            continue
        started[name] = B.start(name, argv, workdir)

    sni_lua = path("sni.lua")

    def https_keepalive(port):
        return lambda d: wrk("https://%s:%d/" % (SNI, port), 64, d, sni_lua)

    def handshakes(port, expect):
        def measure(d):
            run = s_time(port, d)
            # s_time reads whatever comes back; the readiness check's 200 (same request) gives
            # the size every connection must have read, give or take a header's digits.
            if run["requests"] and run["bytes_per_conn"] < expect[0] - 8 and "failed" not in run:
                run["failed"] = "%.0f bytes read per connection, a 200 is %d" % (
                    run["bytes_per_conn"], expect[0])
            return run
        return measure

    def big_transfers(port):
        return lambda d: wrk("https://%s:%d/1m" % (SNI, port), BIG_CONNS, d, sni_lua)

    # Each target must answer the way its measurement expects before it is measured.
    term = {}  # name -> (keep-alive Target, handshake Target)
    for name, label in (("nginx", "nginx 1.22, 2 workers"), ("wharf", "wharf, 2 workers")):
        port = PORTS[name]
        proc = started.get(name)
        ka = Target(name, label, proc, https_keepalive(port))
        expect = [0]
        hs = Target(name, label, proc, handshakes(port, expect))
        term[name] = (ka, hs)
        if proc is None:
            ka.why = hs.why = "no wharf binary at %s" % WHARF_BIN
            continue
        res = wait_tls(proc, port, SNI)
        # exactly what openssl s_time -www sends
        res10 = B.tls_get(port, None, request=S_TIME_REQUEST) if "error" not in res else res
        if res.get("status") != 200 or res.get("body") != B.BODY:
            ka.why = "answered %s" % (res.get("error") or "%s %r" % (res.get("status"),
                                                                      res.get("body", b"")[:60]))
        elif res.get("cert") != cert_der:
            ka.why = "served another certificate than the bench's for SNI %s" % SNI
        else:
            ka.ok = True
            ka.info = "%s %s" % (res["version"], res["cipher"])
        if res10.get("status") != 200 or res10.get("body") != B.BODY:
            hs.why = "s_time's request (HTTP/1.0, no SNI) answered %s" % (
                res10.get("error") or "%s %r" % (res10.get("status"), res10.get("body", b"")[:60]))
        elif res10.get("cert") != cert_der:
            hs.why = "served another certificate than the bench's without SNI"
        else:
            hs.ok = True
            hs.info = "%s %s" % (res10["version"], res10["cipher"])
            expect[0] = res10["size"]
        for t in (ka, hs):
            if not t.ok:
                log("%s: not benchmarked: %s" % (name, t.why))

    pt = [Target("direct", "direct to the TLS origin", origin, big_transfers(op))]
    for name, label in (("haproxy", "HAProxy mode tcp, nbthread 2"),
                        ("wharf-pt", "wharf TCP passthrough, 2 workers")):
        proc = started.get(name)
        pt.append(Target(name, label, proc, big_transfers(PORTS[name])))
    for t in pt:
        if t.proc is None:
            t.why = "no wharf binary at %s" % WHARF_BIN
            log("%s: not benchmarked: %s" % (t.name, t.why))
            continue
        res = wait_tls(t.proc, PORTS[t.name] if t.name != "direct" else op, SNI, "/1m")
        if res.get("status") == 200 and res.get("body") == big and res.get("cert") == cert_der:
            t.ok = True
            t.info = "%s %s" % (res["version"], res["cipher"])
        else:
            t.why = "answered %s" % (res.get("error") or "%s, %d bytes" % (
                res.get("status"), len(res.get("body", b""))))
            log("%s: not benchmarked: %s" % (t.name, t.why))

    ka_targets = [term[n][0] for n in ("nginx", "wharf") if term[n][0].ok]
    hs_targets = [term[n][1] for n in ("nginx", "wharf") if term[n][1].ok]
    pt_targets = [t for t in pt if t.ok]

    for t in ka_targets + pt_targets:  # warm-up: pools, buffers, page cache
        t.measure(1)

    log("phase 1: HTTPS keep-alive, wrk -t2 -c64, %d rounds x %d s" % (ROUNDS, DURATION))
    B.interleaved(ka_targets, "ka", measure_cpu)
    log("phase 2: full handshakes, %d x openssl s_time -new, %d rounds x %d s"
        % (CLIENTS, ROUNDS, DURATION))
    B.interleaved(hs_targets, "hs", measure_cpu, lambda run: B.rate_line(run, "conn/s"))
    log("phase 3: SNI passthrough, 1 MiB responses, wrk -t2 -c%d, %d rounds x %d s"
        % (BIG_CONNS, ROUNDS, DURATION))
    B.interleaved(pt_targets, "pt", measure_cpu)

    died = []
    for name, p in list(started.items()) + [("backend", backend), ("origin", origin)]:
        if not p.alive():
            died.append("%s %s" % (name, p.exit_note()))
            log(died[-1])
    elapsed = time.time() - t0
    load = (load_before, os.getloadavg())
    B.publish(build_report(term, pt, elapsed, load, workdir, died), SECTION)
    return 0


# ---------------------------------------------------------------------------------------------
# Report


def build_report(term, pt, elapsed, load, workdir, died):
    out = B.section_head(
        SECTION, "Written by `bench/tls.py`; bench/README.md (\"TLS\") explains the method. "
        "Same machine, one run, %d interleaved rounds x %d s per target, medians; ratios are "
        "medians of per-round ratios." % (ROUNDS, DURATION),
        elapsed, load, ("nginx", "haproxy", "wrk", "openssl"), B.wharf_version(WHARF_BIN))
    out.append("- certificate: ECDSA P-256, self-signed, CN and SAN %s (all servers)" % SNI)
    for t in [x for pair in term.values() for x in pair] + pt:
        if not t.ok:
            out.append("- **%s not measured (%s)**: %s. Pending; nothing is estimated."
                       % (t.label, t.name, t.why))
    for d in died:
        out.append("- **%s**; figures after that are not valid." % d)
    out.append("")

    def rows_for(targets, phase, ref):
        rows = []
        for t in targets:
            s = B.summary(t, phase)
            if not s:
                rows.append([t.label, "pending (%s)" % (t.why or "-"), "", "", "", "", ""])
                continue
            r = B.paired(t, ref, phase) if ref.runs.get(phase) else None
            rows.append([t.label, B.fmt_range(s), B.fmt_x(r), B.fmt_time(s["p99"]),
                         B.fmt_us(s["cpu_us"]), B.fmt_errors(s), t.info or "-"])
        return rows

    ng_ka, wh_ka = term["nginx"][0], term["wharf"][0]
    out.append("### HTTPS keep-alive throughput (wrk -t2 -c64)\n")
    out.append("TLS terminated by the proxy, plain HTTP/1.1 with keep-alive to the 1-worker "
               "backend (19-byte 200). wrk connects to https://%s:PORT/ (SNI %s) and keeps its "
               "64 connections for the whole run. CPU/req: the proxy's utime+stime over all its "
               "processes / requests completed.\n" % (SNI, SNI))
    out.append(B.table(["target", "req/s median (min-max)", "/ nginx", "p99", "CPU/req",
                        "non-2xx / socket errors", "negotiated"],
                       rows_for([ng_ka, wh_ka], "ka", ng_ka)))
    out.append("")

    ng_hs, wh_hs = term["nginx"][1], term["wharf"][1]
    out.append("### Full-handshake rate (%d x openssl s_time -new -www /)\n" % CLIENTS)
    out.append("%d `openssl s_time -new` clients in parallel: each connection does a full TLS "
               "1.3 handshake (X25519, ECDSA P-256 signature; s_time never resumes with -new and "
               "sends no SNI, so the servers answer with their default certificate, the bench's "
               "one), sends `GET / HTTP/1.0`, which the proxy forwards to the backend, reads the "
               "answer and closes. Rate: each client's connections / the wall-clock time it ran, "
               "summed. CPU/conn: the proxy's CPU per connection. The clients' own handshake "
               "work shares the 2 cores with the proxy, so absolute rates are client-bound; "
               "compare the ratio and CPU/conn.\n" % CLIENTS)
    out.append(B.table(["target", "connections/s median (min-max)", "/ nginx", "p99", "CPU/conn",
                        "non-2xx / socket errors", "negotiated"],
                       rows_for([ng_hs, wh_hs], "hs", ng_hs)))
    out.append("")

    hp = next(t for t in pt if t.name == "haproxy")
    wp = next(t for t in pt if t.name == "wharf-pt")
    out.append("### SNI passthrough, 1 MiB responses (wrk -t2 -c%d)\n" % BIG_CONNS)
    out.append("wrk fetches https://%s:PORT/1m (SNI %s; the address comes from a Lua "
               "`wrk.resolve` override, no /etc/hosts change) over %d keep-alive connections. "
               "The proxy reads the ClientHello, routes by SNI and tunnels the bytes to a "
               "1-worker nginx that terminates TLS and serves a 1 MiB file. MiB/s = responses/s "
               "x 1 MiB (bodies only). CPU/MiB: the proxy's CPU per response; for the direct "
               "row, the origin's own.\n" % (SNI, SNI, BIG_CONNS))
    rows = rows_for(pt, "pt", hp)
    for row, t in zip(rows, pt):
        s = B.summary(t, "pt")
        if s:
            row[1] = "%s MiB/s (%s)" % ("%.0f" % s["rps"], "%.0f-%.0f" % (s["rps_min"],
                                                                            s["rps_max"]))
    out.append(B.table(["target", "MiB/s median (min-max)", "/ HAProxy", "p99", "CPU/MiB",
                        "non-2xx / socket errors", "negotiated"], rows))
    out.append("")

    out.append("### wharf against its TLS goals (docs/PERFORMANCE.md 8 and 9)\n")
    grows = []

    def goal(text, a, b, phase, threshold):
        r = B.paired(a, b, phase) if a.ok and b.ok else None
        grows.append([text, B.fmt_x(r), B.fmt_rounds(a, b, phase) if r else "-",
                      B.goal_status(None if r is None else r >= threshold)])

    goal("HTTPS keep-alive req/s >= 1.0x nginx", wh_ka, ng_ka, "ka", 1.0)
    goal("full handshakes/s >= 1.0x nginx", wh_hs, ng_hs, "hs", 1.0)
    goal("SNI passthrough of 1 MiB transfers >= 0.9x HAProxy mode tcp", wp, hp, "pt", 0.9)
    out.append(B.table(["goal", "measured (median)", "each round", "status"], grows))
    out.append("")
    out.append("Work directory of this run (configs, certificate, server output): `%s`." % workdir)
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    B.run_main(main)
