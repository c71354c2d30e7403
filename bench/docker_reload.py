#!/usr/bin/env python3
"""Docker label change latency with many labelled containers running (PERFORMANCE.md goal 7:
a change is live <= 1 s after the event with 500 labelled containers).

Starts a private dockerd (tests/integration/dockerd.py), N labelled containers (busybox, one
router each), then wharf with the docker provider (providersThrottleDuration at its 2 s
default). It waits until all N routers are in /api/http/routers, then R times creates one more
container with a new router and measures from `docker start` returning to the router being in
the snapshot (the API reads the snapshot the workers serve), and the same for its removal.
Only loopback and the private engine's containers are touched; everything is stopped at the end.

usage: docker_reload.py WHARF_BIN [N=500] [ROUNDS=5]   (prints a markdown table)
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from dockerd import DockerEngine  # noqa: E402


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def routers(api):
    with urllib.request.urlopen(f"{api}/api/http/routers?per_page=100000", timeout=5) as r:
        return {x["name"] for x in json.load(r)}


def wait(pred, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(0.01)
    raise RuntimeError("timeout")


def main():
    wharf = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    eng = DockerEngine()
    proc = None
    try:
        eng.start_engine()
        eng.import_busybox()
        eng.network("bench-net", subnet="10.220.0.0/16")  # a /24 holds 253
        t0 = time.monotonic()

        def make(i):
            eng.run(f"c{i}", network="bench-net", cmd=["sleep", "3600"], expose=[80], labels={
                "traefik.enable": "true",
                f"traefik.http.routers.r{i}.rule": f"Host(`c{i}.example`)",
                f"traefik.http.services.s{i}.loadbalancer.server.port": "80"})
        # The engine does the work (a vfs copy and a network endpoint per container); a few
        # CLI calls in flight keep it busy, which matters at 500 containers.
        with ThreadPoolExecutor(max_workers=int(os.environ.get("BENCH_DOCKER_PARALLEL", "6"))) as ex:
            list(ex.map(make, range(n)))
        made = time.monotonic() - t0
        tmp = tempfile.mkdtemp(prefix="wharf-dockerbench-")
        web, admin = free_port(), free_port()
        conf = os.path.join(tmp, "traefik.yml")
        with open(conf, "w") as f:
            f.write(f"entryPoints:\n  web: {{address: '127.0.0.1:{web}'}}\n"
                    f"  traefik: {{address: '127.0.0.1:{admin}'}}\napi: {{insecure: true}}\n"
                    f"providers:\n  docker: {{endpoint: '{eng.endpoint}', exposedByDefault: false}}\n"
                    "log: {level: ERROR}\n")
        api = f"http://127.0.0.1:{admin}"
        t0 = time.monotonic()
        proc = subprocess.Popen([wharf, f"--configFile={conf}"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

        def all_there():
            try:
                return sum(1 for x in routers(api) if x.endswith("@docker")) >= n
            except OSError:
                return False
        initial = wait(all_there, 300)
        adds, removes = [], []
        for k in range(rounds):
            time.sleep(2.2)  # outside the throttle window of the previous change
            c = eng.run(f"probe{k}", network="bench-net", cmd=["sleep", "3600"], expose=[80],
                        labels={"traefik.enable": "true",
                                f"traefik.http.routers.probe{k}.rule": f"Host(`p{k}.example`)"})
            t = c.started_at
            wait(lambda: f"probe{k}@docker" in routers(api), 30)
            adds.append(time.monotonic() - t)
            time.sleep(2.2)
            eng.stop(f"probe{k}")
            t = time.monotonic()
            wait(lambda: f"probe{k}@docker" not in routers(api), 30)
            removes.append(time.monotonic() - t)
        rss = 0
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024
        print(f"| containers running | {n} (created in {made:.0f} s) |")
        print(f"| initial sync to {n} routers in the API | {initial:.2f} s |")
        print(f"| new container live after `docker start` (median / max of {rounds}) | "
              f"{statistics.median(adds):.3f} s / {max(adds):.3f} s |")
        print(f"| stopped container gone after `docker stop` (median / max) | "
              f"{statistics.median(removes):.3f} s / {max(removes):.3f} s |")
        print(f"| wharf RSS with {n} docker routers | {rss:.1f} MiB |")
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        eng.cleanup()
        eng.close()


if __name__ == "__main__":
    main()
