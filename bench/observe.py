#!/usr/bin/env python3
"""What wharf's access log and Prometheus metrics cost, side by side with nginx's access log.

Five targets in front of bench/run.py's backend (a 1-worker nginx answering a 19-byte 200),
measured in interleaved rounds (docs/PERFORMANCE.md "Method") with wrk -t1 -c64, as in
run.py's keep-alive phase:

1. wharf, 2 workers, no access log and no metrics (bench/conf/wharf.yml, as in run.py);
2. wharf with `accessLog: {filePath, format: common, bufferingSize: 100}` and
   `metrics: {prometheus: {}}` (/metrics on the traefik entry point, outside the measured
   traffic) (bench/conf/wharf-observe.yml);
3. the same with `format: json`;
4. nginx, 2 workers, upstream keep-alive, `access_log off` (bench/conf/nginx.conf, as in run.py);
5. the same nginx with `access_log FILE combined buffer=64k flush=1s`.

For each: req/s, p99, CPU per request (utime+stime of all the target's processes / requests
wrk completed) and PSS after the load; ratios wharf+log / wharf plain (the cost of observing)
and wharf+log / nginx+log (goal >= 1.0x). Ratios of throughput are medians of per-round
ratios.

Then the accounting, which must be exact. wrk runs with a small Lua script (obs.lua, written to
the work directory, used for every target alike) that counts the requests it writes: when wrk
stops it abandons up to one request per connection, which the proxy has received and answers
or logs as 499, so wrk's count of completed responses is short by those. At the end /metrics is
scraped (the sum of traefik_entrypoint_requests_total on the measured entry point), the logging
servers are stopped gracefully (wharf: SIGTERM, which flushes the buffered lines; nginx:
SIGQUIT), and their access-log lines are counted and parsed. For each logging wharf, lines and
the counter must both equal the requests sent to it (wrk's, warm-up included, plus the
readiness checks that got an answer). A mismatch is printed in bold in the section and the
script exits with status 1 after writing the report.

Servers are started, stopped and tracked with bench/run.py's helpers (their own sessions,
whole process groups killed on exit, failure or signal; group ids in $BENCH_WORKDIR/pgids).

Environment: WHARF_BIN (default build/release/wharf), BENCH_DURATION (seconds per run, 5),
BENCH_ROUNDS (3), BENCH_PORT_BASE (18500; uses base to base+51), BENCH_LOG_BUFFERING (wharf's
bufferingSize, 100), BENCH_RESULTS (default bench/RESULTS.md, "-" for stdout only),
BENCH_WORKDIR (default a new /tmp/wharf-bench-observe.* directory; the access logs are written
there and can take a few hundred MB).
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402  (bench/run.py: processes, wrk, rounds, templates, formatting)

B.LOG_PREFIX = "bench-observe"
log = B.log
DURATION, ROUNDS, WHARF_BIN = B.DURATION, B.ROUNDS, B.WHARF_BIN
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18500"))
BUFFERING = int(os.environ.get("BENCH_LOG_BUFFERING", "100"))
SECTION = "## Observability (bench/observe.py)"
PHASE = "c64"  # the one phase: keep-alive throughput at -c64
CONNS = 64
NGINX_LOG = "combined buffer=64k flush=1s"
TICK = B.TICK

PORTS = {
    "backend": PORT_BASE,
    "status": PORT_BASE + 1,
    "nginx": PORT_BASE + 10,
    "nginx-log": PORT_BASE + 20,
    "wharf": PORT_BASE + 30,
    "wharf-admin": PORT_BASE + 31,
    "wharf-clf": PORT_BASE + 40,
    "wharf-clf-admin": PORT_BASE + 41,
    "wharf-json": PORT_BASE + 50,
    "wharf-json-admin": PORT_BASE + 51,
}

# wrk's request() hook: returning the same pre-built request keeps wrk's work per request
# almost what it is without a script, and counts what was actually written to the socket.
OBS_LUA = """-- Counts the requests wrk writes (bench/observe.py); prints the total when done.
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function init(args)
   sent = 0
   req = wrk.format()
end

function request()
   sent = sent + 1
   return req
end

function done(summary, latency, requests)
   local n = 0
   for _, t in ipairs(threads) do
      n = n + t:get("sent")
   end
   -- Before the run, wrk calls request() once on its first thread to check the request it
   -- builds (script_verify_request); that one is never written.
   n = n - 1
   io.write(string.format("requests sent: %d\\n", n))
end
"""

# One CLF field: a quoted string (with wharf's \\" and \\\\ escapes) or a bare token.
Q = r'"((?:[^"\\]|\\.)*)"'
CLF_RE = re.compile(r"^(\S+) - (\S+) \[([^\]]+)\] " + Q + r" (\d{3}) (\S+) " + Q + " " + Q +
                    r" (\d+) " + Q + " " + Q + r" (\d+)ms$")
COMBINED_RE = re.compile(r'^(\S+) - (\S+) \[([^\]]+)\] "(.*)" (\d{3}) (\d+) "(.*)" "(.*)"$')
ENTRYPOINT_RE = re.compile(r'^traefik_entrypoint_requests_total\{([^}]*)\} (\S+)$', re.M)


# ---------------------------------------------------------------------------------------------
# Targets and clients


class Target(B.Target):
    def __init__(self, name, label, kind, port, proc, admin_port=None, access_log=None,
                 log_format=None):
        super().__init__(name, label, port, proc)
        self.kind = kind
        self.admin_port, self.access_log, self.log_format = admin_port, access_log, log_format
        self.sent = 0  # every request wrk wrote to this target, warm-up included
        self.completed = 0  # every response wrk completed, warm-up included
        self.checks = 0  # readiness requests that got an answer
        self.unsure = 0  # readiness requests that timed out (may or may not have been served)
        self.pss = None
        self.account = None  # filled after the graceful stop


def counted_get(t, port, path="/"):
    status, body = B.http_get(port, path=path)
    if port == t.port:
        if status is not None:
            t.checks += 1
        elif b"timed out" in body:
            t.unsure += 1
    return status, body


def wait_ready(t, seconds=30.0):
    """Waits for the backend's own 200 through the target (a proxy may listen before its
    routes are loaded); returns the last (status, body). Every request that got an answer is
    counted: wharf logs and counts it like any other."""
    return B.wait_for(t.proc, lambda: counted_get(t, t.port), lambda res: res[0] == 200,
                      seconds)


def wrk(t, seconds, script):
    argv = ["wrk", "-t1", "-c%d" % CONNS, "-d%ds" % seconds, "--latency", "--timeout", "5s",
            "-s", script, "http://127.0.0.1:%d/" % t.port]
    before = t.proc.cpu_ticks()
    run = B.run_wrk(argv, seconds, counts={"sent": r"requests sent: (\d+)"})
    run["cpu"] = (t.proc.cpu_ticks() - before) / TICK
    t.completed += run["requests"]
    if run["sent"] is not None:
        t.sent += run["sent"]
    else:
        t.unsure += 1  # the count is lost; the accounting check says so
    return run


# ---------------------------------------------------------------------------------------------
# Accounting: /metrics and the access-log files


def scrape(t):
    """Sum of traefik_entrypoint_requests_total on the measured entry point, per code; or
    None and the reason."""
    status, body = B.http_get(t.admin_port, path="/metrics", timeout=10.0)
    if status != 200:
        return None, "/metrics answered %s %r" % (status, body[:80])
    by_code = {}
    for labels, value in ENTRYPOINT_RE.findall(body.decode(errors="replace")):
        lab = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        if lab.get("entrypoint") != "web":
            continue
        code = lab.get("code", "?")
        by_code[code] = by_code.get(code, 0) + int(float(value))
    return by_code, ""


def stop_gracefully(t, sig, seconds=30.0):
    """Signals the session leader alone (wharf; nginx's master) and waits for it to exit, so
    that what it buffered reaches the file. Returns a problem, or ""."""
    if not t.proc.alive():
        return "had exited before the end (code %s)" % t.proc.popen.returncode
    os.kill(t.proc.pid, sig)
    try:
        code = t.proc.popen.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return "still running %.0f s after %s" % (seconds, signal.Signals(sig).name)
    deadline = time.time() + 5.0  # nginx's workers exit after the master has seen them go
    while t.proc.pids() and time.time() < deadline:
        time.sleep(0.05)
    return "" if code == 0 else "exited with code %s after %s" % (code, signal.Signals(sig).name)


def read_log(t):
    """Lines, bytes, status counts and lines that do not parse in t's access-log file."""
    res = {"lines": 0, "bytes": 0, "status": {}, "bad": 0, "bad_sample": ""}
    try:
        res["bytes"] = os.path.getsize(t.access_log)
        f = open(t.access_log, "rb")
    except OSError as e:
        res["error"] = str(e)
        return res
    with f:
        for raw in f:
            res["lines"] += 1
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            code = None
            if t.log_format == "json":
                try:
                    obj = json.loads(line)
                    code = str(obj["DownstreamStatus"])
                except (ValueError, KeyError, TypeError):
                    pass
            else:
                m = (COMBINED_RE if t.kind == "nginx" else CLF_RE).match(line)
                code = m.group(5) if m else None
            if code is None:
                res["bad"] += 1
                res["bad_sample"] = res["bad_sample"] or line[:160]
                continue
            res["status"][code] = res["status"].get(code, 0) + 1
    return res


def account(t):
    """Scrape (wharf), stop gracefully, read the access log; the figures go to t.account."""
    a = {"expected": t.sent + t.checks, "metrics": None, "metrics_error": "", "stop": "",
         "problems": []}
    if t.kind == "wharf":
        a["metrics"], a["metrics_error"] = scrape(t)
    a["stop"] = stop_gracefully(t, signal.SIGTERM if t.kind == "wharf" else signal.SIGQUIT)
    a["log"] = read_log(t)
    lg = a["log"]
    if t.kind == "wharf":
        # Anything off here is a bug in wharf (or in this accounting): say it loudly.
        if t.unsure:
            a["problems"].append("%d requests could not be counted (a wrk run without its "
                                 "count, or a readiness check that timed out)" % t.unsure)
        if a["stop"]:
            a["problems"].append("wharf " + a["stop"])
        if "error" in lg:
            a["problems"].append("access log unreadable: " + lg["error"])
        elif lg["lines"] != a["expected"]:
            a["problems"].append("%d access-log lines for %d requests sent (%+d)" % (
                lg["lines"], a["expected"], lg["lines"] - a["expected"]))
        if lg["bad"]:
            a["problems"].append("%d access-log lines do not parse as %s, e.g. `%s`" % (
                lg["bad"], t.log_format, lg["bad_sample"]))
        if a["metrics"] is None:
            a["problems"].append(a["metrics_error"])
        elif sum(a["metrics"].values()) != a["expected"]:
            a["problems"].append("traefik_entrypoint_requests_total sums to %d for %d "
                                 "requests sent (%+d)" % (
                                     sum(a["metrics"].values()), a["expected"],
                                     sum(a["metrics"].values()) - a["expected"]))
        elif "error" not in lg and a["metrics"] != lg["status"]:
            a["problems"].append("status codes differ between /metrics %s and the log %s" % (
                fmt_codes(a["metrics"]), fmt_codes(lg["status"])))
    t.account = a
    for p in a["problems"]:
        log("%s: ACCOUNTING MISMATCH: %s" % (t.name, p))
    return a


def fmt_codes(by_code):
    return ", ".join("%s: %d" % (c, n) for c, n in sorted(by_code.items())) or "-"


# ---------------------------------------------------------------------------------------------
# Main


def nginx_server(port, access_log):
    return ("    server {\n        listen 127.0.0.1:%d backlog=4096;\n" % port +
            ("        access_log %s %s;\n" % (access_log, NGINX_LOG) if access_log else "") +
            B.NGINX_LOCATION + "    }\n")


def main():
    code = B.preflight(("nginx", "wrk"), PORTS.values())
    if code:
        return code
    workdir = B.make_workdir("wharf-bench-observe.", "configs, access logs and server output")
    t0 = time.time()
    load_before = os.getloadavg()
    nginx = B.which("nginx")

    def path(name):
        return os.path.join(workdir, name)

    for name in ("access-clf.log", "access-json.log", "nginx-access.log"):
        if os.path.exists(path(name)):  # a reused work directory: count this run's lines only
            os.unlink(path(name))
    script = path("obs.lua")
    with open(script, "w") as f:
        f.write(OBS_LUA)

    bp = PORTS["backend"]
    for d in ("backend.tmp", "nginx.tmp", "nginx-log.tmp"):
        os.makedirs(path(d), exist_ok=True)
    B.render("backend.nginx.conf", path("backend.conf"), DIR=workdir, BACKEND_PORT=bp,
             STATUS_PORT=PORTS["status"])
    B.render("nginx.conf", path("nginx.conf"), DIR=workdir, SUFFIX="", BACKEND_PORT=bp,
             SERVERS=nginx_server(PORTS["nginx"], None))
    B.render("nginx.conf", path("nginx-log.conf"), DIR=workdir, SUFFIX="-log", BACKEND_PORT=bp,
             SERVERS=nginx_server(PORTS["nginx-log"], path("nginx-access.log")))
    B.render("wharf-dynamic.yml", path("wharf-dynamic.yml"), BACKEND_PORT=bp)
    B.render("wharf.yml", path("wharf.yml"), PORT=PORTS["wharf"], ADMIN_PORT=PORTS["wharf-admin"],
             DYNAMIC=path("wharf-dynamic.yml"))
    for fmt, short in (("common", "clf"), ("json", "json")):
        B.render("wharf-observe.yml", path("wharf-%s.yml" % short), PORT=PORTS["wharf-" + short],
                 ADMIN_PORT=PORTS["wharf-%s-admin" % short], DYNAMIC=path("wharf-dynamic.yml"),
                 ACCESS_LOG=path("access-%s.log" % short), FORMAT=fmt, BUFFERING=BUFFERING)

    backend = B.start("backend", [nginx, "-p", workdir, "-e", path("backend.error.log"),
                                  "-c", path("backend.conf")], workdir)
    status, body = B.wait_ready(backend, bp)
    if status != 200 or body != B.BODY:
        log("backend did not come up: %s %r" % (status, body[:200]))
        return 1

    have_wharf = os.access(WHARF_BIN, os.X_OK)
    specs = [
        ("wharf", "wharf, 2 workers", "wharf", [WHARF_BIN, "--configFile=" + path("wharf.yml")],
         None, None),
        ("wharf-clf", "wharf + common log + metrics", "wharf",
         [WHARF_BIN, "--configFile=" + path("wharf-clf.yml")], path("access-clf.log"), "common"),
        ("wharf-json", "wharf + json log + metrics", "wharf",
         [WHARF_BIN, "--configFile=" + path("wharf-json.yml")], path("access-json.log"), "json"),
        ("nginx", "nginx 1.22, 2 workers", "nginx",
         [nginx, "-p", workdir, "-e", path("nginx.error.log"), "-c", path("nginx.conf")],
         None, None),
        ("nginx-log", "nginx + access log", "nginx",
         [nginx, "-p", workdir, "-e", path("nginx-log.error.log"), "-c", path("nginx-log.conf")],
         path("nginx-access.log"), "combined"),
    ]
    targets = []
    for name, label, kind, argv, access_log, fmt in specs:
        admin = PORTS.get(name + "-admin")
        if kind == "wharf" and not have_wharf:
            t = Target(name, label, kind, PORTS[name], None, admin, access_log, fmt)
            t.why = "no wharf binary at %s" % WHARF_BIN
        else:
            t = Target(name, label, kind, PORTS[name], B.start(name, argv, workdir), admin,
                       access_log, fmt)
        targets.append(t)
    for t in targets:
        if t.proc is None:
            log("%s: skipped (%s)" % (t.name, t.why))
            continue
        status, body = wait_ready(t)
        if status == 200 and body == B.BODY:
            t.ok = True
        else:
            t.why = B.not_200(status, body)
        if t.ok and t.log_format and t.kind == "wharf":
            status, body = B.http_get(t.admin_port, path="/metrics")
            if status != 200 or b"# TYPE" not in body:
                t.ok = False
                t.why = "/metrics answered %s %r" % (status, body[:60])
        if not t.ok:
            log("%s: not benchmarked: %s" % (t.name, t.why))
    live = [t for t in targets if t.ok]

    for t in live:  # warm-up: upstream pools, buffers, page cache; counted like the rest
        wrk(t, 1, script)

    log("keep-alive throughput, wrk -t1 -c%d, %d rounds x %d s" % (CONNS, ROUNDS, DURATION))
    B.interleaved(live, PHASE, lambda t: wrk(t, DURATION, script))

    for t in live:
        if t.proc.alive():
            t.pss = t.proc.memory()[1]
        else:
            t.died = t.proc.exit_note()
            log("%s %s" % (t.name, t.died))
    died = [] if backend.alive() else ["backend exited during the run: " + backend.tail(3)]

    log("accounting: /metrics, graceful stop, access-log lines")
    for t in live:
        if t.access_log and not t.died:
            account(t)
    elapsed = time.time() - t0
    load = (load_before, os.getloadavg())
    B.publish(build_report(targets, elapsed, load, workdir, died), SECTION)
    bad = [t for t in live if t.kind == "wharf" and t.account and t.account["problems"]]
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------
# Report


def build_report(targets, elapsed, load, workdir, died):
    by = {t.name: t for t in targets}
    S = {t.name: B.summary(t, PHASE) for t in targets if t.ok}
    out = B.section_head(
        SECTION, "Written by `bench/observe.py`; bench/README.md (\"Observability\") explains "
        "the method. Same machine, one run, %d interleaved rounds x %d s per target, wrk -t1 "
        "-c%d, the 1-worker nginx backend of bench/run.py (19-byte 200); medians; throughput "
        "ratios are medians of per-round ratios." % (ROUNDS, DURATION, CONNS),
        elapsed, load, ("nginx", "wrk"), B.wharf_version(WHARF_BIN))
    out.append("- wharf + log: `accessLog: {filePath: <workdir>/access-<format>.log, format: "
               "common|json, bufferingSize: %d}` and `metrics: {prometheus: {}}` (/metrics on "
               "the traefik entry point); nginx + log: `access_log <workdir>/nginx-access.log "
               "%s`. All targets: 2 workers, upstream keep-alive, the same wrk with a Lua "
               "script that counts the requests it writes." % (BUFFERING, NGINX_LOG))
    for t in targets:
        if not t.ok:
            out.append("- **%s not measured**: %s. Pending; nothing is estimated." % (
                t.label, t.why))
        if t.died:
            out.append("- **%s %s**; its figures are not valid." % (t.label, t.died))
    for d in died:
        out.append("- **%s**; figures after that are not valid." % d)
    problems = [(t, p) for t in targets if t.account for p in t.account["problems"]]
    for t, p in problems:
        out.append("- **ACCOUNTING MISMATCH, %s: %s.** Every request must give exactly one "
                   "access-log line and one count in /metrics; this is a bug." % (t.label, p))
    out.append("")

    out.append("### Throughput, latency, CPU (wrk -t1 -c%d)\n" % CONNS)
    out.append("CPU/req: utime+stime of all the target's processes / requests wrk completed, "
               "over the rounds (the workers' writes of the access log included). PSS after the "
               "rounds, summed over the target's processes.\n")
    rows = []
    for t in targets:
        s = S.get(t.name)
        if not s:
            rows.append([t.label, "pending (%s)" % (t.why or "-"), "", "", "", ""])
            continue
        rows.append([t.label, B.fmt_range(s), B.fmt_time(s["p99"]), B.fmt_us(s["cpu_us"]),
                     B.fmt_mib(t.pss), B.fmt_errors(s)])
    out.append(B.table(["target", "req/s median (min-max)", "p99", "CPU/req", "PSS after load",
                        "non-2xx / socket errors"], rows))
    out.append("")

    out.append("### The cost of observing, and wharf against nginx with logs on\n")
    out.append("req/s: median of per-round ratios (and each round's). p99 and CPU/req: ratio "
               "of the medians above (CPU: of the totals); lower is better for both.\n")
    rows = []

    def compare(text, a, b, goal=None):
        sa, sb = S.get(a), S.get(b)
        if not (sa and sb):
            rows.append([text, "pending", "", "", "", "pending" if goal else ""])
            return
        r = B.paired(by[a], by[b], PHASE)
        status = "" if goal is None else B.goal_status(None if r is None else r >= goal)
        rows.append([text, B.fmt_x(r), B.fmt_rounds(by[a], by[b], PHASE),
                     B.fmt_ratio(sa["p99"], sb["p99"]), B.fmt_ratio(sa["cpu_us"], sb["cpu_us"]),
                     status])

    compare("wharf + common log + metrics / wharf plain", "wharf-clf", "wharf")
    compare("wharf + json log + metrics / wharf plain", "wharf-json", "wharf")
    compare("nginx + access log / nginx plain", "nginx-log", "nginx")
    compare("wharf plain / nginx plain", "wharf", "nginx")
    compare("wharf + common log + metrics / nginx + access log (goal >= 1.0x)", "wharf-clf",
            "nginx-log", 1.0)
    compare("wharf + json log + metrics / nginx + access log (goal >= 1.0x)", "wharf-json",
            "nginx-log", 1.0)
    out.append(B.table(["ratio", "req/s", "each round", "p99", "CPU/req", "goal"], rows))
    out.append("")

    out.append("### Accounting: access-log lines and /metrics against the requests sent\n")
    out.append("Requests sent: what wrk wrote to the target over all its runs (warm-up "
               "included, counted by the Lua script) plus the readiness checks that got an "
               "answer. wrk completed: the responses wrk read; the difference is the requests "
               "in flight when each wrk run stopped (at most %d per run), which the proxy still "
               "answered or logged as 499. Lines are counted after a graceful stop (wharf: "
               "SIGTERM flushes the buffered lines; nginx: SIGQUIT); /metrics is scraped before "
               "it: the sum of `traefik_entrypoint_requests_total{entrypoint=\"web\"}`. For "
               "wharf, lines and counter must both equal the requests sent.\n" % CONNS)
    rows = []
    for t in targets:
        a = t.account
        if not a:
            if t.access_log:
                rows.append([t.label, "pending (%s)" % (t.why or t.died or "-")] + [""] * 8)
            continue
        lg = a["log"]
        m = a["metrics"]
        ok = not a["problems"] if t.kind == "wharf" else (
            lg["lines"] == a["expected"] and not lg["bad"])
        rows.append([
            t.label, "%d (wrk %d + checks %d)" % (a["expected"], t.sent, t.checks),
            "%d (%d in flight at the stops)" % (t.completed, t.sent - t.completed),
            "%d" % lg["lines"], fmt_codes(lg["status"]),
            "%.1f" % (lg["bytes"] / lg["lines"]) if lg["lines"] else "-",
            B.fmt_mib(lg["bytes"]),
            ("%d (%s)" % (sum(m.values()), fmt_codes(m)) if m is not None
             else (a["metrics_error"] or "-")),
            ("exact" if ok else "**MISMATCH**") if t.kind == "wharf" else
            ("exact" if ok else "differs (%+d lines%s)" % (
                lg["lines"] - a["expected"],
                ", %d unparsed" % lg["bad"] if lg["bad"] else "")),
        ])
    out.append(B.table(["target", "requests sent", "wrk completed", "log lines",
                        "lines by status", "bytes/line", "log size",
                        "/metrics requests_total (by code)", "match"], rows))
    out.append("")
    out.append("Work directory of this run (configs, access logs, server output): `%s`." % workdir)
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    B.run_main(main)
