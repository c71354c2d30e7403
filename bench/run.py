#!/usr/bin/env python3
"""wharf side by side with nginx, HAProxy, h2o and Caddy on loopback (make bench).

Method (bench/README.md has the long form): one 1-worker nginx backend answering a 19-byte 200;
each proxy with 2 workers/threads and upstream keep-alive in front of it; wrk -t1 as the client.
Targets run in interleaved rounds, so that a noisy neighbour on this shared machine hurts every
target alike, and results are reported as ratios to nginx and to direct-to-backend.

Phases: (1) keep-alive throughput and p99 at -c64, with the proxy's CPU time per request and
the backend's accepted connections (upstream reuse); (2) latency at -c16; (3) 10,000 Host
routes against the 1-route case (wharf and nginx); (4) 10,000 idle keep-alive connections per
target, RSS growth per connection. Writes the tables to stdout and to bench/RESULTS.md.

Every process started here runs in a session of its own and is killed with its whole process
group on exit, failure or signal; bench/run.sh also kills whatever group ids are left in the
work directory's pgids file, in case this script itself is killed hard.

Environment: WHARF_BIN (default build/release/wharf), BENCH_DURATION (seconds per run, 5),
BENCH_ROUNDS (3), BENCH_IDLE_CONNS (10000), BENCH_ROUTES (10000), BENCH_PORT_BASE (18100),
BENCH_RESULTS (default bench/RESULTS.md; "-" for none), BENCH_WORKDIR (default a new temp dir).

The other benchmarks (tls.py, observe.py, upstream_tls.py) import this file as a module and use
its helpers: processes, readiness, wrk runs and their parsing, interleaved rounds, summaries
and paired ratios, report formatting and the RESULTS.md sections. WHARF_BIN, BENCH_DURATION,
BENCH_ROUNDS and BENCH_RESULTS mean the same in all of them.
"""
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONF = os.path.join(HERE, "conf")

DURATION = int(os.environ.get("BENCH_DURATION", "5"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
IDLE_CONNS = int(os.environ.get("BENCH_IDLE_CONNS", "10000"))
ROUTES = int(os.environ.get("BENCH_ROUTES", "10000"))
PORT_BASE = int(os.environ.get("BENCH_PORT_BASE", "18100"))
WHARF_BIN = os.environ.get("WHARF_BIN", os.path.join(ROOT, "build", "release", "wharf"))
RESULTS = os.environ.get("BENCH_RESULTS", os.path.join(HERE, "RESULTS.md"))
BODY = b"hello from backend\n"  # 19 bytes, as PERFORMANCE.md's measurements
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

PORTS = {
    "backend": PORT_BASE,
    "status": PORT_BASE + 1,
    "nginx": PORT_BASE + 10,
    "haproxy": PORT_BASE + 20,
    "h2o": PORT_BASE + 30,
    "caddy": PORT_BASE + 40,
    "wharf": PORT_BASE + 50,
    "wharf-admin": PORT_BASE + 51,
    "wharf-10k": PORT_BASE + 60,
    "wharf-10k-admin": PORT_BASE + 61,
    "nginx-10k": PORT_BASE + 70,
}


LOG_PREFIX = "bench"  # each script that imports this module names itself here


def log(msg):
    print(LOG_PREFIX + ": " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Processes


def stat_fields(pid):
    """The fields of /proc/<pid>/stat from the third (the state) on, or None when it is gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2:].split()


class Proc:
    """One started server: its session leader and the files it writes."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.log_path = os.path.join(workdir, name + ".out")
        out = open(self.log_path, "wb")
        self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      env=env, cwd=workdir)
        out.close()
        self.pid = self.popen.pid
        with open(os.path.join(workdir, "pgids"), "a") as f:
            f.write("%d\n" % self.pid)

    def pids(self):
        """Every live process of the server's session (nginx's master and workers, etc.)."""
        found = []
        for entry in os.listdir("/proc"):
            fields = stat_fields(entry) if entry.isdigit() else None
            if fields and int(fields[3]) == self.pid:  # field 6 of stat: the session id
                found.append(int(entry))
        return found

    def cpu_ticks(self):
        total = 0
        for pid in self.pids():
            fields = stat_fields(pid)
            if fields:
                total += int(fields[11]) + int(fields[12])  # utime + stime
        return total

    def memory(self):
        """(RSS, PSS, anonymous RSS) in bytes, summed over the server's processes.

        RSS includes the resident pages of shared libraries (libcrypto alone is megabytes);
        the anonymous part is the memory the server itself allocated."""
        rss = pss = anon = 0
        for pid in self.pids():
            try:
                with open("/proc/%d/smaps_rollup" % pid) as f:
                    for line in f:
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1]) * 1024
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1]) * 1024
                        elif line.startswith("Anonymous:"):
                            anon += int(line.split()[1]) * 1024
            except OSError:
                continue
        return rss, pss, anon

    def alive(self):
        return self.popen.poll() is None

    def stop(self):
        if self.popen.poll() is None:
            self.signal_group(signal.SIGTERM)
        # Workers may outlive a master; the group goes whole.
        self.signal_group(signal.SIGKILL)

    def signal_group(self, sig):
        """Sends sig to the server's process group and waits up to 5 s for the leader."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def tail(self, n=5):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:]).strip()
        except OSError:
            return ""

    def exit_note(self):
        """"" while the server runs; else how it ended, for the report."""
        if self.alive():
            return ""
        return "exited during the run (code %s): %s" % (self.popen.returncode, self.tail(3))


STARTED = []
PGIDS = []  # the pgids file, once the work directory is known


def stop_all():
    while STARTED:
        STARTED.pop().stop()
    # Every group is gone: run.sh's trap must not kill ids the kernel may hand out again.
    for f in PGIDS:
        try:
            os.unlink(f)
        except OSError:
            pass


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def run_main(main):
    """Runs main() and exits with its status; every server started is stopped on the way out,
    whether main returns, fails or a signal ends it."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    try:
        code = main()
    finally:
        stop_all()
    sys.exit(code)


def start(name, argv, workdir, env=None):
    p = Proc(name, argv, workdir, env)
    STARTED.append(p)
    return p


def which(tool):
    """The path of tool (in PATH, or in /usr/sbin for nginx and HAProxy), or None."""
    return shutil.which(tool) or ("/usr/sbin/" + tool
                                  if os.path.exists("/usr/sbin/" + tool) else None)


def preflight(tools, ports):
    """2 (and says why) when one of tools is missing or one of ports is taken, else 0."""
    for tool in tools:
        if not which(tool):
            log("%s is not installed: run scripts/setup.sh --bench" % tool)
            return 2
    busy = [p for p in ports if not port_free(p)]
    if busy:
        log("ports in use: %s (set BENCH_PORT_BASE)" % busy)
        return 2
    return 0


def make_workdir(prefix, holds):
    """$BENCH_WORKDIR or a new /tmp/<prefix>* directory, with an empty pgids file (a reused
    work directory must not name old groups); holds says what goes there, for the log."""
    workdir = os.environ.get("BENCH_WORKDIR") or tempfile.mkdtemp(prefix=prefix)
    os.makedirs(workdir, exist_ok=True)
    PGIDS.append(os.path.join(workdir, "pgids"))
    open(PGIDS[0], "w").close()
    log("work directory %s (%s)" % (workdir, holds))
    return workdir


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def http_get(port, host=None, path="/", timeout=2.0):
    """(status, body) of one request, or (None, error text)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError as e:
        return None, str(e).encode()


def dechunk(body):
    out = b""
    while body:
        size, _, rest = body.partition(b"\r\n")
        n = int(size.split(b";")[0] or b"0", 16)
        if n == 0:
            break
        out += rest[:n]
        body = rest[n + 2:]
    return out


def tls_get(port, sni, path="/", timeout=3.0, ca=None, request=None):
    """One request over a fresh TLS connection to 127.0.0.1:port with SNI sni (none if None):
    a dict with status, body (dechunked), head, size (bytes read), the peer's DER certificate,
    protocol and cipher; or {"error": text}. With ca (a PEM file), the peer is verified against
    it under the name sni; without, not at all. request: the raw bytes to send instead of a
    GET of path with Connection: close."""
    if ca:
        ctx = ssl.create_default_context(cafile=ca)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if request is None:
        request = b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (
            path.encode(), (sni or "127.0.0.1").encode())
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=sni) as s:
                s.sendall(request)
                data = b""
                while True:
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        break
                    data += chunk
                cert = s.getpeercert(binary_form=True)
                version, cipher = s.version(), s.cipher()[0]
    except (OSError, ssl.SSLError) as e:
        return {"error": str(e)}
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return {"status": int(m.group(1)) if m else None, "body": body, "cert": cert, "size": len(data),
            "version": version, "cipher": cipher, "head": head}


def wait_for(proc, probe, until, seconds=30.0,
             exited=lambda tail: (None, ("exited: " + tail).encode())):
    """Calls probe() every 0.1 s until until(its result) holds or seconds have passed, and
    returns the last result; exited(the server's last output) if proc has exited."""
    deadline = time.time() + seconds
    while True:
        if not proc.alive():
            return exited(proc.tail())
        last = probe()
        if until(last) or time.time() >= deadline:
            return last
        time.sleep(0.1)


def wait_ready(proc, port, host=None, seconds=30.0, status=None):
    """Waits until the server answers on port (with status, when given: a proxy may listen
    before its routes are loaded; else with anything); returns the last (status, body)."""
    return wait_for(proc, lambda: http_get(port, host),
                    lambda res: res[0] is not None if status is None else res[0] == status,
                    seconds)


def not_200(status, body):
    """Why a readiness check's (status, body) is not the backend's 200, for the report."""
    if status is None:
        return body.decode(errors="replace")[:200]
    return "answered %s \"%s\", not the backend's 200" % (
        status, body[:60].decode(errors="replace").strip())


# ---------------------------------------------------------------------------------------------
# Configuration


def render(template, out_path, **values):
    with open(os.path.join(CONF, template)) as f:
        text = f.read()
    for k, v in values.items():
        text = text.replace("{{%s}}" % k, str(v))
    left = re.findall(r"\{\{[A-Z_]+\}\}", text)
    if left:
        raise RuntimeError("%s: unfilled placeholders %s" % (template, left))
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


NGINX_LOCATION = "        location / {\n            proxy_pass http://backend;\n        }\n"


def nginx_servers(port, routes):
    if routes == 0:
        return ("    server {\n        listen 127.0.0.1:%d backlog=4096;\n" % port) + \
            NGINX_LOCATION + "    }\n"
    # One server block per name, as 10,000 separately routed sites would be written.
    out = []
    for i in range(routes):
        extra = " backlog=4096" if i == 0 else ""
        out.append("    server {\n        listen 127.0.0.1:%d%s;\n        server_name h%d.example;\n"
                   % (port, extra, i) + NGINX_LOCATION + "    }\n")
    return "".join(out)


def wharf_routes_file(path, routes):
    with open(path, "w") as f:
        f.write("# %d Host routers to one backend (generated by bench/run.py)\nhttp:\n  routers:\n"
                % routes)
        for i in range(routes):
            f.write("    h%d:\n      rule: \"Host(`h%d.example`)\"\n      entryPoints: [web]\n"
                    "      service: backend\n" % (i, i))
        f.write("  services:\n    backend:\n      loadBalancer:\n        servers:\n"
                "          - url: \"http://127.0.0.1:%d\"\n" % PORTS["backend"])


# ---------------------------------------------------------------------------------------------
# Measurement


class Target:
    """One thing measured (the other scripts' targets extend it): its server (proc), whether
    it answered as expected before the runs (ok; else why), its runs by phase, and died (a
    note when its server exited during the run)."""

    def __init__(self, name, label, port, proc, host=None):
        self.name, self.label, self.port, self.proc, self.host = name, label, port, proc, host
        self.ok = False
        self.why = ""
        self.runs = {}  # phase -> list of run dicts
        self.mem = {}  # when -> (rss, pss, anon)
        self.died = ""


def stub_status(port):
    """nginx's (accepts, handled, requests) counters from its stub_status on port, or None;
    the request for them is itself one accepted connection and one request."""
    status, body = http_get(port)
    if status != 200:
        return None
    m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", body)
    return tuple(int(x) for x in m.groups()) if m else None


def backend_accepts():
    counters = stub_status(PORTS["status"])
    return (counters[0], counters[2]) if counters else None


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_latency(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def run_wrk(argv, seconds, percentiles=("99",), counts=None):
    """Runs wrk (argv, a run of seconds) and parses what it printed: a dict with raw (its
    output), rps, requests (completed), non2xx, errors (socket errors of all kinds) and p<N>
    for each of percentiles (seconds, None if absent), and "failed" (the end of what it said)
    when wrk failed or completed nothing. counts: {key: regex with one group} for integers a
    Lua script prints; one that is missing is None and fails the run."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        out = subprocess.CompletedProcess(argv, -1, "", "wrk did not finish in time")
    text = out.stdout
    run = {"raw": text}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    run["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    run["requests"] = int(m.group(1)) if m else 0
    for key, pattern in (counts or {}).items():
        m = re.search(pattern, text)
        run[key] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    run["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    run["errors"] = sum(int(x) for x in m.groups()) if m else 0
    for pct in percentiles:
        m = re.search(r"^\s+%s%%\s+(\S+)" % pct, text, re.M)
        run["p" + pct] = parse_latency(m.group(1)) if m else None
    if out.returncode != 0 or run["requests"] == 0 or \
            any(run[key] is None for key in (counts or {})):
        run["failed"] = (out.stderr or text).strip()[-300:]
    return run


def wrk(target, conns, seconds, measure=True):
    argv = ["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds, "--latency", "--timeout", "5s"]
    if target.host:
        argv += ["-H", "Host: " + target.host]
    argv.append("http://127.0.0.1:%d/" % target.port)
    before_acc = backend_accepts() if measure else None
    before_cpu = target.proc.cpu_ticks() if measure else 0
    run = run_wrk(argv, seconds, ("50", "99"))
    after_cpu = target.proc.cpu_ticks() if measure else 0
    after_acc = backend_accepts() if measure else None
    if measure:
        run["cpu"] = (after_cpu - before_cpu) / TICK
        if before_acc and after_acc:
            # The two status requests are themselves one accepted connection and one request each.
            run["accepts"] = after_acc[0] - before_acc[0] - 1
            run["backend_requests"] = after_acc[1] - before_acc[1] - 1
    return run


def rate_line(run, unit="req/s"):
    """The figures of one run in a progress line."""
    return "%9.0f %s  p99 %s" % (run["rps"], unit, fmt_time(run.get("p99")))


def interleaved(targets, phase, measure, describe=rate_line):
    """ROUNDS rounds in which measure(t) makes one run of every target, appended to
    t.runs[phase]. The order rotates each round so that no target always runs first or last:
    a noisy neighbour on this shared machine then hurts every target alike. describe(run) is
    the middle of the progress line logged after each run."""
    if not targets:
        return
    width = max(len(t.name) for t in targets)
    for r in range(ROUNDS):
        order = targets[r % len(targets):] + targets[:r % len(targets)]
        for t in order:
            run = measure(t)
            t.runs.setdefault(phase, []).append(run)
            log("%-*s round %d/%d %s%s%s" % (
                width, t.name, r + 1, ROUNDS, describe(run),
                "  non-2xx %d errors %d" % (run["non2xx"], run["errors"])
                if run["non2xx"] or run["errors"] else "",
                "  FAILED: " + run["failed"][-120:] if "failed" in run else ""))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summary(t, phase):
    """Medians over t's runs of phase (rps with its min and max, p50, p99), the sums of
    non-2xx responses, socket errors and failed runs, cpu_us (the CPU time of the runs that
    have one / all requests completed) and reuse (1 - backend accepts / backend requests, of
    the runs that counted both); None without runs."""
    runs = t.runs.get(phase, [])
    if not runs:
        return None
    s = {
        "rps": med([r["rps"] for r in runs]),
        "rps_min": min(r["rps"] for r in runs),
        "rps_max": max(r["rps"] for r in runs),
        "p50": med([r.get("p50") for r in runs]),
        "p99": med([r["p99"] for r in runs]),
        "non2xx": sum(r["non2xx"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "failed": sum(1 for r in runs if "failed" in r),
    }
    reqs = sum(r["requests"] for r in runs)
    cpu = [r["cpu"] for r in runs if r.get("cpu") is not None]
    s["requests"] = reqs
    s["cpu_us"] = sum(cpu) / reqs * 1e6 if reqs and cpu else None
    acc = [r for r in runs if "backend_requests" in r]
    breqs = sum(r["backend_requests"] for r in acc)
    s["reuse"] = 1.0 - sum(r["accepts"] for r in acc) / breqs if breqs else None
    return s


def round_ratios(a, b, phase, key="rps"):
    """a's figure / b's figure in each round of phase (rounds where either is 0 or missing
    left out)."""
    ra, rb = a.runs.get(phase, []), b.runs.get(phase, [])
    return [x[key] / y[key] for x, y in zip(ra, rb) if x.get(key) and y.get(key)]


def paired(a, b, phase, key="rps"):
    """Median over rounds of a's figure / b's figure in the same round.

    Runs of one round are seconds apart, so this cancels most of the drift a shared machine
    puts between rounds, which a ratio of medians would keep."""
    ratios = round_ratios(a, b, phase, key)
    return statistics.median(ratios) if ratios else None


# ---------------------------------------------------------------------------------------------
# Formatting


def fmt_time(sec):
    if sec is None:
        return "-"
    if sec < 1e-3:
        return "%.0f us" % (sec * 1e6)
    return "%.2f ms" % (sec * 1e3)


def fmt_mib(b):
    return "-" if b is None else "%.1f MiB" % (b / 1048576.0)


def fmt_ratio(a, b):
    return "-" if a is None or not b else "%.2fx" % (a / b)


def fmt_x(r):
    return "-" if r is None else "%.2fx" % r


def fmt_range(s):
    """A summary's req/s: "median (min-max)"."""
    return "%.0f (%.0f-%.0f)" % (s["rps"], s["rps_min"], s["rps_max"])


def fmt_us(us):
    return "-" if us is None else "%.1f us" % us


def fmt_errors(s):
    """A summary's non-2xx responses / socket errors, and its failed runs if any."""
    return "%d / %d%s" % (s["non2xx"], s["errors"],
                          " (%d runs failed)" % s["failed"] if s["failed"] else "")


def fmt_rounds(a, b, phase):
    """Each round's req/s ratio a / b: "1.02, 0.98, 1.01", or "-"."""
    return ", ".join("%.2f" % x for x in round_ratios(a, b, phase)) or "-"


def goal_status(ok):
    """A goal row's status: None (not measured), True or False."""
    return "pending" if ok is None else ("met" if ok else "**not met**")


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def version(argv, pattern):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        m = re.search(pattern, out.stdout + out.stderr)
        return m.group(1) if m else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


VERSION_PROBES = {  # tool -> (its name in the report, argv, pattern of the version)
    "nginx": ("nginx ", ["nginx", "-v"], r"nginx/(\S+)"),
    "haproxy": ("HAProxy ", ["haproxy", "-v"], r"version (\S+)"),
    "h2o": ("h2o ", ["h2o", "-v"], r"version (\S+)"),
    "caddy": ("Caddy ", ["caddy", "version"], r"v?(\S+)"),
    "wrk": ("wrk ", ["wrk", "-v"], r"wrk (\S+)"),
    "openssl": ("", ["openssl", "version"], r"(OpenSSL \S+)"),
}


def versions(*tools):
    """"nginx 1.22.1, wrk 4.1.0, OpenSSL 3.0.2" for the tools named (VERSION_PROBES' keys)."""
    return ", ".join(VERSION_PROBES[t][0] + version(*VERSION_PROBES[t][1:]) for t in tools)


def now():
    return datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def section_head(section, intro, elapsed, load, tools, wharf):
    """The first lines of a script's RESULTS.md section: its heading, intro (who wrote it and
    how), then date, run time, load, machine and the versions of tools and of wharf."""
    return [section, "", intro, "",
            "- date: %s; run took %.0f s; load average (1 min) %.2f before, %.2f after"
            % (now(), elapsed, load[0][0], load[1][0]),
            "- machine: %s" % machine(),
            "- versions: %s, %s" % (versions(*tools), wharf)]


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            cpu = m.group(1).strip() if m else "?"
    except OSError:
        pass
    mem = os.sysconf("SC_PHYS_PAGES") * PAGE / 2**30
    return "%s, %d CPUs (%s), %.0f GiB RAM, Linux %s" % (
        platform.machine(), os.cpu_count(), cpu, mem, platform.release())


# ---------------------------------------------------------------------------------------------
# Main


def main():
    code = preflight(("nginx", "haproxy", "h2o", "caddy", "wrk"), PORTS.values())
    if code:
        return code
    workdir = make_workdir("wharf-bench.", "configs and server output")
    t0 = time.time()
    load_before = os.getloadavg()
    nginx, haproxy = which("nginx"), which("haproxy")

    def path(name):
        return os.path.join(workdir, name)

    bp = PORTS["backend"]

    # Backend.
    os.makedirs(path("backend.tmp"), exist_ok=True)
    render("backend.nginx.conf", path("backend.conf"), DIR=workdir, BACKEND_PORT=bp,
           STATUS_PORT=PORTS["status"])
    backend = start("backend", [nginx, "-p", workdir, "-e", path("backend.error.log"),
                                "-c", path("backend.conf")], workdir)
    status, body = wait_ready(backend, bp)
    if status != 200 or body != BODY:
        log("backend did not come up: %s %r" % (status, body[:200]))
        return 1

    targets = [Target("direct", "direct to backend", bp, backend)]

    # nginx, 1 route and 10,000 server names.
    for suffix, routes in (("", 0), ("-10k", ROUTES)):
        os.makedirs(path("nginx%s.tmp" % suffix), exist_ok=True)
        render("nginx.conf", path("nginx%s.conf" % suffix), DIR=workdir, SUFFIX=suffix,
               BACKEND_PORT=bp, SERVERS=nginx_servers(PORTS["nginx" + suffix], routes))
    render("haproxy.cfg", path("haproxy.cfg"), DIR=workdir, PORT=PORTS["haproxy"], BACKEND_PORT=bp)
    # h2o refuses to run as root without a user to drop to.
    render("h2o.conf", path("h2o.conf"), DIR=workdir, PORT=PORTS["h2o"], BACKEND_PORT=bp,
           USER="user: nobody" if os.geteuid() == 0 else "")
    render("Caddyfile", path("Caddyfile"), PORT=PORTS["caddy"], BACKEND_PORT=bp)
    render("wharf-dynamic.yml", path("wharf-dynamic.yml"), BACKEND_PORT=bp)
    render("wharf.yml", path("wharf.yml"), PORT=PORTS["wharf"], ADMIN_PORT=PORTS["wharf-admin"],
           DYNAMIC=path("wharf-dynamic.yml"))
    wharf_routes_file(path("wharf-10k-dynamic.yml"), ROUTES)
    render("wharf.yml", path("wharf-10k.yml"), PORT=PORTS["wharf-10k"],
           ADMIN_PORT=PORTS["wharf-10k-admin"], DYNAMIC=path("wharf-10k-dynamic.yml"))

    caddy_env = dict(os.environ, GOMAXPROCS="2", HOME=workdir,
                     XDG_DATA_HOME=path("caddy-data"), XDG_CONFIG_HOME=path("caddy-config"))
    last_host = "h%d.example" % (ROUTES - 1)
    specs = [
        ("nginx", "nginx 1.22, 2 workers", [nginx, "-p", workdir, "-e", path("nginx.error.log"),
                                            "-c", path("nginx.conf")], None, None),
        ("haproxy", "HAProxy, nbthread 2", [haproxy, "-db", "-f", path("haproxy.cfg")], None, None),
        ("h2o", "h2o, 2 threads", ["h2o", "-c", path("h2o.conf")], None, None),
        ("caddy", "Caddy, GOMAXPROCS 2", ["caddy", "run", "--adapter", "caddyfile", "--config",
                                          path("Caddyfile")], caddy_env, None),
        ("wharf", "wharf, 2 workers", [WHARF_BIN, "--configFile=" + path("wharf.yml")], None, None),
        ("nginx-10k", "nginx, %d server names" % ROUTES,
         [nginx, "-p", workdir, "-e", path("nginx-10k.error.log"), "-c", path("nginx-10k.conf")],
         None, last_host),
        ("wharf-10k", "wharf, %d Host routers" % ROUTES,
         [WHARF_BIN, "--configFile=" + path("wharf-10k.yml")], None, last_host),
    ]
    by_name = {"direct": targets[0]}
    for name, label, argv, env, host in specs:
        if name.startswith("wharf") and not os.access(WHARF_BIN, os.X_OK):
            t = Target(name, label, PORTS[name], None, host)
            t.why = "no wharf binary at %s" % WHARF_BIN
            by_name[name] = t
            continue
        proc = start(name, argv, workdir, env)
        t = Target(name, label, PORTS[name], proc, host)
        by_name[name] = t
    for name, t in by_name.items():
        if t.proc is None:
            log("%s: skipped (%s)" % (name, t.why))
            continue
        status, body = wait_ready(t.proc, t.port, t.host, 60.0 if "10k" in name else 30.0)
        if status == 200 and body == BODY:
            t.ok = True
        else:
            t.why = not_200(status, body)
            log("%s: not benchmarked: %s" % (name, t.why))
    main_targets = [by_name[n] for n in ("direct", "nginx", "haproxy", "h2o", "caddy", "wharf")]
    live = [t for t in main_targets if t.ok]

    time.sleep(1.0)
    for t in by_name.values():
        if t.ok:
            t.mem["idle"] = t.proc.memory()

    # Warm-up: fill upstream pools, fault in buffers, let Go's runtime size its heap.
    for t in live:
        wrk(t, 64, 1, measure=False)

    log("phase 1: keep-alive throughput, -c64, %d rounds x %d s" % (ROUNDS, DURATION))
    interleaved(live, "c64", lambda t: wrk(t, 64, DURATION))
    log("phase 2: latency, -c16, %d rounds x %d s" % (ROUNDS, DURATION))
    interleaved(live, "c16", lambda t: wrk(t, 16, DURATION))
    for t in live:
        t.mem["loaded"] = t.proc.memory()

    log("phase 3: %d routes, last route vs 1 route" % ROUTES)
    route_targets = [by_name[n] for n in ("nginx", "nginx-10k", "wharf", "wharf-10k")
                     if by_name[n].ok]
    for t in route_targets:
        if "10k" in t.name:
            wrk(t, 64, 1, measure=False)
    interleaved(route_targets, "routes", lambda t: wrk(t, 64, DURATION))

    log("phase 4: %d idle keep-alive connections" % IDLE_CONNS)
    idle = {}
    for t in live:
        before = t.proc.memory()
        helper = subprocess.Popen([sys.executable, os.path.join(HERE, "idle_conns.py"),
                                   str(t.port), str(IDLE_CONNS)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = helper.stdout.readline()
            m = re.match(r"open (\d+) ok (\d+)", line)
            time.sleep(1.0)
            after = t.proc.memory()
        finally:
            try:
                helper.stdin.close()
            except OSError:
                pass
            try:
                helper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                helper.kill()
                helper.wait()
        opened, ok = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        idle[t.name] = (before, after, opened, ok)
        log("%-10s %d open, %d answered 200, RSS %s -> %s" % (
            t.name, opened, ok, fmt_mib(before[0]), fmt_mib(after[0])))
        time.sleep(0.5)

    for t in by_name.values():
        if t.ok and not t.proc.alive():
            t.died = t.proc.exit_note()
            log("%s %s" % (t.name, t.died))
    elapsed = time.time() - t0
    load = (load_before, os.getloadavg())
    publish(build_report(by_name, main_targets, route_targets, idle, elapsed, load, workdir))
    return 0


def build_report(by_name, main_targets, route_targets, idle, elapsed, load, workdir):
    S = {t.name: summary(t, "c64") for t in main_targets if t.ok}
    L = {t.name: summary(t, "c16") for t in main_targets if t.ok}
    R = {t.name: summary(t, "routes") for t in route_targets}
    mem = {t.name: t.mem for t in by_name.values()}
    ng, di = S.get("nginx"), S.get("direct")
    out = []
    out.append("# Benchmark results: wharf side by side with nginx, HAProxy, h2o and Caddy\n")
    out.append("Written by `make bench` (bench/run.py); bench/README.md explains the method and "
               "how to read these tables. Ratios matter, not absolute numbers: the machine is "
               "shared and client, proxy and backend share its cores.\n")
    out.append("- date: %s" % now())
    out.append("- machine: %s" % machine())
    out.append("- versions: %s, %s" % (versions("nginx", "haproxy", "h2o", "caddy", "wrk"),
                                       wharf_version()))
    out.append("- method: backend 1-worker nginx (19-byte 200); wrk -t1; %d interleaved rounds "
               "x %d s per target and phase; medians over rounds; run took %.0f s"
               % (ROUNDS, DURATION, elapsed))
    skipped = [t for t in main_targets + route_targets if not t.ok]
    for t in dict((t.name, t) for t in skipped).values():
        out.append("- **%s not measured**: %s. Its figures are pending; none are estimated." %
                   (t.name, t.why))
    for t in by_name.values():
        if t.died:
            out.append("- **%s %s**; its figures after that are not valid." % (t.name, t.died))
    out.append("")

    out.append("## Ratios (keep-alive, -c64)\n")
    out.append("req/s and p99 ratios are medians of per-round ratios (targets of one round ran "
               "seconds apart); CPU per request is total CPU / total requests over the rounds. "
               "Throughput: higher is better. p99, CPU per request and memory: lower is better. "
               "Memory is PSS after load (nginx runs a master and two workers; PSS shares their "
               "common pages out fairly).\n")
    rows = []
    for t in main_targets:
        s = S.get(t.name)
        if not s:
            rows.append([t.label] + ["pending"] * 8)
            continue
        pss = mem[t.name].get("loaded", (None, None))[1]
        ng_pss = mem["nginx"].get("loaded", (None, None))[1] if "nginx" in S else None
        di_pss = mem["direct"].get("loaded", (None, None))[1]
        rows.append([t.label,
                     fmt_x(ng and paired(t, by_name["nginx"], "c64", "rps")),
                     fmt_x(di and paired(t, by_name["direct"], "c64", "rps")),
                     fmt_x(ng and paired(t, by_name["nginx"], "c64", "p99")),
                     fmt_x(di and paired(t, by_name["direct"], "c64", "p99")),
                     fmt_ratio(s["cpu_us"], ng and ng["cpu_us"]),
                     fmt_ratio(s["cpu_us"], di and di["cpu_us"]),
                     fmt_ratio(pss, ng_pss), fmt_ratio(pss, di_pss)])
    out.append(table(["target", "req/s / nginx", "req/s / direct", "p99 / nginx", "p99 / direct",
                      "CPU/req / nginx", "CPU/req / direct", "PSS / nginx", "PSS / direct"], rows))
    out.append("")

    out.append("## Raw numbers\n")
    out.append("req/s: median (min-max) over rounds at -c64. CPU/req: the target's utime+stime "
               "over all its processes, divided by the requests wrk completed (for direct, the "
               "backend's own cost). Upstream reuse: 1 - connections the backend accepted / "
               "requests it served. RSS, PSS and anonymous RSS (memory the target allocated itself, "
               "without shared library pages) summed over the target's processes.\n")
    rows = []
    for t in main_targets:
        s, l = S.get(t.name), L.get(t.name)
        if not s:
            rows.append([t.label, "pending (%s)" % t.why] + [""] * 11)
            continue
        m = mem[t.name]
        rows.append([
            t.label, fmt_range(s),
            fmt_time(s["p99"]), fmt_time(l and l["p50"]), fmt_time(l and l["p99"]),
            fmt_us(s["cpu_us"]),
            "%.2f%%" % (100 * s["reuse"]) if s["reuse"] is not None and t.name != "direct"
            else "-",
            fmt_mib(m.get("idle", (None,))[0]), fmt_mib(m.get("idle", (None, None))[1]),
            fmt_mib(m.get("idle", (None, None, None))[2]),
            fmt_mib(m.get("loaded", (None,))[0]), fmt_mib(m.get("loaded", (None, None))[1]),
            "%d / %d" % (s["non2xx"] + (l["non2xx"] if l else 0),
                         s["errors"] + (l["errors"] if l else 0)),
        ])
    out.append(table(["target", "req/s -c64", "p99 -c64", "p50 -c16", "p99 -c16", "CPU/req",
                      "upstream reuse", "RSS idle", "PSS idle", "anon idle", "RSS loaded", "PSS loaded",
                      "non-2xx / socket errors"], rows))
    out.append("")

    out.append("## %d routes: last route against the 1-route case (-c64)\n" % ROUTES)
    out.append("The %d-route instances get `Host: h%d.example` (the last router or server "
               "name); the 1-route instances match everything (wharf: PathPrefix(`/`), nginx: "
               "one server). Memory per route: the idle RSS (PSS) difference between the two instances "
               "/ %d; nginx's RSS counts its master and both workers, so read its PSS.\n"
               % (ROUTES, ROUTES - 1, ROUTES))
    rows = []
    for base, many in (("nginx", "nginx-10k"), ("wharf", "wharf-10k")):
        b, m = R.get(base), R.get(many)
        if not (b and m):
            why = by_name[many].why or by_name[base].why
            rows.append([by_name[many].label, "pending (%s)" % why] + [""] * 6)
            continue
        ib, im = mem[base].get("idle"), mem[many].get("idle")
        rows.append([by_name[many].label, "%.0f" % m["rps"], "%.0f" % b["rps"],
                     fmt_x(paired(by_name[many], by_name[base], "routes", "rps")), fmt_mib(im and im[0]), fmt_mib(im and im[1]),
                     "%.0f B" % ((im[0] - ib[0]) / ROUTES) if ib and im else "-",
                     "%.0f B" % ((im[1] - ib[1]) / ROUTES) if ib and im else "-"])
    out.append(table(["target", "req/s last route", "req/s 1 route", "ratio", "RSS idle",
                      "PSS idle", "RSS per route", "PSS per route"], rows))
    out.append("")

    out.append("## %d idle keep-alive connections\n" % IDLE_CONNS)
    out.append("Each connection made one request and then stays open, idle. Growth is the RSS "
               "(PSS) difference with the connections held, divided by the connections held.\n")
    rows = []
    for t in main_targets:
        if t.name not in idle:
            rows.append([t.label, "pending (%s)" % t.why, "", "", "", ""])
            continue
        before, after, opened, ok = idle[t.name]
        n = max(opened, 1)
        rows.append([t.label, "%d / %d" % (opened, ok), fmt_mib(before[0]), fmt_mib(after[0]),
                     "%.0f B" % ((after[0] - before[0]) / n), "%.0f B" % ((after[1] - before[1]) / n)])
    out.append(table(["target", "held / answered 200", "RSS before", "RSS with conns",
                      "RSS per conn", "PSS per conn"], rows))
    out.append("")

    out.append("## wharf against its goals (docs/PERFORMANCE.md)\n")
    out.append(goals(by_name, S, L, R, mem, idle))
    out.append("")
    out.append("## Notes\n")
    out.append("- Client, proxy and backend share the machine's cores (nothing is pinned), so a "
               "proxy that needs less CPU leaves more for the backend and the client: CPU per "
               "request is part of what throughput measures here.")
    out.append("- wrk reports latency without coordinated-omission correction; p99 compares the "
               "targets under the same closed-loop load, not a service-level figure.")
    out.append("- Load average (1 min) before the run %.2f, after it %.2f: anything well above "
               "what the benchmark itself puts on the machine (about 2) means other work shared "
               "the cores, and absolute numbers drop; interleaving keeps the ratios usable."
               % (load[0][0], load[1][0]))
    out.append("- Work directory of this run (configs, server output): `%s`." % workdir)
    out.append("")
    return "\n".join(out)


def publish(report, section=None):
    """Prints report and, unless BENCH_RESULTS is "-", writes it to that file: as the section
    of that heading (the rest of the file stays), or as the whole file."""
    print(report)
    if RESULTS == "-":
        return
    if section:
        write_section(RESULTS, section, report)
        log("wrote the section \"%s\" of %s" % (section, RESULTS))
    else:
        with open(RESULTS, "w") as f:
            f.write(report)
        log("wrote %s" % RESULTS)


def write_section(results, heading, report):
    """Replaces the section of results that starts with the line heading (up to the next
    level-2 heading) with report, or appends it; the rest of the file stays as it is. The
    scripts that measure one more thing (tls.py, observe.py) each keep their own section."""
    try:
        with open(results) as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if l.rstrip("\n") == heading), None)
    section = report.rstrip("\n") + "\n"
    if start is None:
        if text and not text.endswith("\n"):
            text += "\n"
        text += ("\n" if text else "") + section
    else:
        end = next((i for i in range(start + 1, len(lines))
                    if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    with open(results, "w") as f:
        f.write(text)



def wharf_version(binary=None):
    """The version line of binary (default WHARF_BIN) and the tree it was built from."""
    binary = binary or WHARF_BIN
    if not os.access(binary, os.X_OK):
        return "wharf (not built)"
    try:
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10)
        first = (out.stdout or out.stderr).strip().splitlines()
        text = " ".join(first[:2]) if first else "?"
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        return "%s (tree %s)" % (re.sub(r"\s+", " ", text)[:60], rev or "?")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def goals(by_name, S, L, R, mem, idle):
    w, ng = S.get("wharf"), S.get("nginx")
    rows = []

    def row(goal, value, ok):
        rows.append([goal, value, goal_status(ok)])

    if w and ng and None not in (w["p99"], ng["p99"], w["cpu_us"], ng["cpu_us"]):
        r = paired(by_name["wharf"], by_name["nginx"], "c64", "rps")
        row("keep-alive req/s >= 1.0x nginx (goal 1.1x)", fmt_x(r), None if r is None else r >= 1.0)
        hp = S.get("haproxy")
        if hp:
            rh = paired(by_name["wharf"], by_name["haproxy"], "c64", "rps")
            row("keep-alive req/s >= 1.1x HAProxy", fmt_x(rh), None if rh is None else rh >= 1.1)
        row("p99 at -c64 <= nginx's", "%s vs %s" % (fmt_time(w["p99"]), fmt_time(ng["p99"])),
            w["p99"] <= ng["p99"])
        lw, ln = L.get("wharf"), L.get("nginx")
        if lw and ln and lw["p50"] is not None and ln["p50"] is not None:
            row("p50 at -c16 within 50 us of nginx", "%s vs %s" % (fmt_time(lw["p50"]),
                                                                  fmt_time(ln["p50"])),
                lw["p50"] <= ln["p50"] + 50e-6)
        row("CPU per request <= nginx's", "%.1f vs %.1f us" % (w["cpu_us"], ng["cpu_us"]),
            w["cpu_us"] <= ng["cpu_us"])
        if w["reuse"] is not None:
            row(">= 99% upstream reuse", "%.2f%%" % (100 * w["reuse"]), w["reuse"] >= 0.99)
    else:
        for g in ("keep-alive req/s >= 1.0x nginx (goal 1.1x)", "p99 at -c64 <= nginx's",
                  "CPU per request <= nginx's", ">= 99% upstream reuse"):
            row(g, "-", None)
    idle_rss = mem.get("wharf", {}).get("idle")
    row("idle RSS <= 8 MiB", "%s (anonymous %s)" % (fmt_mib(idle_rss[0]), fmt_mib(idle_rss[2]))
        if idle_rss else "-",
        idle_rss[0] <= 8 * 2**20 if idle_rss else None)
    if "wharf" in idle:
        before, after, opened, _ = idle["wharf"]
        per = (after[0] - before[0]) / max(opened, 1)
        row("+<= 2 KiB per idle connection", "%.0f B" % per, per <= 2048)
    else:
        row("+<= 2 KiB per idle connection", "-", None)
    rb, rm = R.get("wharf"), R.get("wharf-10k")
    if rb and rm:
        rr = paired(by_name["wharf-10k"], by_name["wharf"], "routes", "rps")
        row("%d routes: last route >= 0.95x the 1-route case" % ROUTES,
            fmt_x(rr), None if rr is None else rr >= 0.95)
        ib, im = mem["wharf"].get("idle"), mem["wharf-10k"].get("idle")
        per = (im[0] - ib[0]) / ROUTES
        row("+<= 2 KiB per route", "%.0f B" % per, per <= 2048)
    else:
        row("%d routes: last route >= 0.95x the 1-route case" % ROUTES, "-", None)
    return table(["goal", "measured", "status"], rows)


if __name__ == "__main__":
    run_main(main)
