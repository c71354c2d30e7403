"""Entry points listen on IPv4 and IPv6: an address with no host binds both, and the client's
address reaches the backend in X-Forwarded-For / X-Real-Ip in its own family."""

import json
import socket
import subprocess
import time

import yaml

from conftest import free_port


def request(family, addr, port, host):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((addr, port))
        s.sendall(f"GET /echo HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return head.split(b" ", 2)[1], body


def test_empty_host_binds_ipv4_and_ipv6(wharf_bin, tmp_path, backends):
    b = backends.http("origin")
    port = free_port()
    (tmp_path / "dyn.yml").write_text(yaml.safe_dump({"http": {
        "routers": {"app": {"rule": "Host(`dual.example`)", "service": "app"}},
        "services": {"app": {"loadBalancer": {"servers": [{"url": b.url}]}}}}}))
    (tmp_path / "traefik.yml").write_text(yaml.safe_dump({
        "entryPoints": {"web": {"address": f":{port}"}},
        "providers": {"file": {"filename": str(tmp_path / "dyn.yml")}},
        "log": {"level": "INFO"}}))
    log = open(tmp_path / "wharf.log", "wb")
    p = subprocess.Popen([str(wharf_bin), f"--configFile={tmp_path / 'traefik.yml'}"],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                status, _ = request(socket.AF_INET, "127.0.0.1", port, "dual.example")
                if status == b"200":
                    break
            except OSError:
                pass
            assert p.poll() is None and time.monotonic() < deadline, \
                (tmp_path / "wharf.log").read_text()
            time.sleep(0.05)
        for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            status, body = request(family, addr, port, "dual.example")
            assert status == b"200", (addr, body[:200])
            seen = json.loads(body)["headers"]
            hdr = {k.lower(): v for k, v in seen.items()} if isinstance(seen, dict) else {
                k.lower(): v for k, v in seen}
            assert hdr["x-real-ip"] == addr
            assert hdr["x-forwarded-for"].split(",")[-1].strip() == addr
    finally:
        p.terminate()
        p.wait(10)
        log.close()
