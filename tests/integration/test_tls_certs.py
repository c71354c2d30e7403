"""Certificates as an operator lives with them (issue 5 items 1, 6, 7): the default certificate
from the store, sniStrict, certificates renewed on disk picked up without a restart, the API
listing with expiry, the expiry warning, session resumption, entry point `http.tls`, and
WebSockets over TLS."""
import base64
import calendar
import subprocess
import os
import socket
import ssl
import time

import pytest

import tlsutil
from tlsutil import CA, client_context, der, https_get


@pytest.fixture
def pki(tmp_path):
    ca = CA(tmp_path / "ca")
    return {"ca": ca, "dir": tmp_path}


def start(wharf, backends, routers, tls, entrypoints=None, **static):
    b = backends.http("app")
    conf = {"api": {"insecure": True},
            "entryPoints": entrypoints or {"websecure": {}}}
    conf.update(static)
    return wharf.start(conf, dynamic={
        "http": {"routers": routers,
                 "services": {"app": {"loadBalancer": {"servers": [{"url": b.url}]}}}},
        "tls": tls,
    }), b


def router(host, **tls):
    return {"rule": f"Host(`{host}`)", "service": "app", "tls": tls}


def test_default_certificate_from_the_store(wharf, backends, pki):
    dc, dk = pki["ca"].issue("fallback.example")
    w, _ = start(wharf, backends, {"r": router("a.example")},
                 {"stores": {"default": {"defaultCertificate": {"certFile": str(dc),
                                                                "keyFile": str(dk)}}}})
    res = https_get(w.ports["websecure"], "anything.example", host="a.example")
    assert res.cert == der(dc) and res.status == 200


def test_sni_strict_refuses_unknown_names(wharf, backends, pki):
    c, k = pki["ca"].issue("a.example")
    w, _ = start(wharf, backends, {"r": router("a.example")},
                 {"certificates": [{"certFile": str(c), "keyFile": str(k)}],
                  "options": {"default": {"sniStrict": True}}})
    port = w.ports["websecure"]
    assert https_get(port, "a.example").status == 200
    for sni in ("other.example", None):
        with pytest.raises((ssl.SSLError, OSError)):
            https_get(port, sni, host="a.example")


def test_renewed_certificate_on_disk_is_served_without_restart(wharf, backends, pki):
    c1, k1 = pki["ca"].issue("a.example")
    live_c, live_k = pki["dir"] / "live.pem", pki["dir"] / "live.key"
    live_c.write_bytes(c1.read_bytes())
    live_k.write_bytes(k1.read_bytes())
    w, _ = start(wharf, backends, {"r": router("a.example")},
                 {"certificates": [{"certFile": str(live_c), "keyFile": str(live_k)}]})
    port = w.ports["websecure"]
    assert https_get(port, "a.example").cert == der(c1)
    c2, k2 = pki["ca"].issue("a.example", kind="rsa")
    # renewal the way certbot's deploy hooks do it: new files renamed over the old ones
    tmp_c, tmp_k = pki["dir"] / "new.pem", pki["dir"] / "new.key"
    tmp_c.write_bytes(c2.read_bytes())
    tmp_k.write_bytes(k2.read_bytes())
    os.rename(tmp_k, live_k)
    os.rename(tmp_c, live_c)
    deadline = time.monotonic() + 10
    while https_get(port, "a.example").cert != der(c2):
        assert time.monotonic() < deadline, w.log_tail()
        time.sleep(0.2)
    w.wait_for_log("TLS certificate or CA files changed")


def test_broken_certificate_file_is_reported_and_the_others_serve(wharf, backends, pki):
    c, k = pki["ca"].issue("a.example")
    other_c, _ = pki["ca"].issue("b.example")
    w, _ = start(wharf, backends, {"r": router("a.example"), "b": router("b.example")},
                 {"certificates": [{"certFile": str(c), "keyFile": str(k)},
                                   {"certFile": str(other_c), "keyFile": str(k)}]})
    w.wait_for_log(r"b\.example.*key does not match|key does not match")
    port = w.ports["websecure"]
    assert https_get(port, "a.example").cert == der(c)
    # b.example falls back to the default certificate, it is not served with a.example's
    assert https_get(port, "b.example").cert != der(c)


def test_api_lists_certificates_and_the_log_warns_before_expiry(wharf, backends, pki):
    c, k = pki["ca"].issue("a.example")
    soon_c, soon_k = pki["ca"].issue("soon.example", days=5)
    w, _ = start(wharf, backends, {"r": router("a.example")},
                 {"certificates": [{"certFile": str(c), "keyFile": str(k)},
                                   {"certFile": str(soon_c), "keyFile": str(soon_k)}]})
    certs = w.get("/api/certificates").json()
    by_name = {x["sans"][0]: x for x in certs if x["sans"]}
    assert by_name["a.example"]["keyType"] == "ECDSA"
    assert by_name["a.example"]["notAfter"].endswith("Z")
    assert 3 <= by_name["soon.example"]["daysLeft"] <= 5
    assert any(x["default"] and "TRAEFIK DEFAULT CERT" in x["subject"] for x in certs)
    assert all("key" not in x and "BEGIN" not in str(x) for x in certs)
    w.wait_for_log(r"TLS certificate for soon\.example .* expires on .*in [45] day")
    assert "a.example" not in "".join(
        line for line in w.log().splitlines() if "expires on" in line)


def test_tls_sessions_resume(wharf, backends, pki):
    c, k = pki["ca"].issue("a.example")
    w, _ = start(wharf, backends, {"r": router("a.example")},
                 {"certificates": [{"certFile": str(c), "keyFile": str(k)}]})
    port = w.ports["websecure"]
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_context(maxv=version, minv=version)
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="a.example") as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
                s.recv(65536)  # TLS 1.3 tickets arrive after the handshake
                session = s.session
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with ctx.wrap_socket(raw, server_hostname="a.example", session=session) as s:
                assert s.session_reused, version


def test_entry_point_http_tls_makes_every_router_tls(wharf, backends, pki):
    c, k = pki["ca"].issue("a.example")
    w, _ = start(wharf, backends, {"r": {"rule": "Host(`a.example`)", "service": "app"}},
                 {"certificates": [{"certFile": str(c), "keyFile": str(k)}]},
                 entrypoints={"websecure": {"http": {"tls": {}}}})
    assert https_get(w.ports["websecure"], "a.example").status == 200
    r = w.http.get(w.url("/", "websecure"), headers={"Host": "a.example"}, timeout=5)
    assert r.status_code == 404


def test_websocket_over_tls(wharf, backends, pki):
    c, k = pki["ca"].issue("a.example")
    w, _ = start(wharf, backends, {"r": router("a.example")},
                 {"certificates": [{"certFile": str(c), "keyFile": str(k)}]})
    ctx = client_context()
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection(("127.0.0.1", w.ports["websecure"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="a.example") as s:
            s.sendall((f"GET /ws HTTP/1.1\r\nHost: a.example\r\nUpgrade: websocket\r\n"
                       f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                       f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(4096)
            assert head.startswith(b"HTTP/1.1 101"), head
            # one masked text frame "hello"; the backend echoes it unmasked
            mask = os.urandom(4)
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(b"hello"))
            s.sendall(bytes([0x81, 0x80 | 5]) + mask + payload)
            rest = head.split(b"\r\n\r\n", 1)[1]
            while len(rest) < 7:
                rest += s.recv(4096)
            assert rest[:7] == bytes([0x81, 5]) + b"hello"


def test_prometheus_certificate_expiry_gauge(wharf, backends, pki):
    c, k = pki["ca"].issue("a.example", sans=["a.example", "www.a.example"])
    w, _ = start(wharf, backends, {"r": router("a.example")},
                 {"certificates": [{"certFile": str(c), "keyFile": str(k)}]},
                 metrics={"prometheus": {}})
    r = w.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out = subprocess.run(["openssl", "x509", "-in", str(c), "-noout", "-enddate", "-serial"],
                         capture_output=True, text=True, check=True).stdout
    end = out.split("notAfter=")[1].split("\n")[0]
    not_after = calendar.timegm(time.strptime(end, "%b %d %H:%M:%S %Y GMT"))
    serial = str(int(out.split("serial=")[1].strip(), 16))
    want = (f'traefik_tls_certs_not_after{{cn="a.example",sans="a.example,www.a.example",'
            f'serial="{serial}"}} {not_after}')
    assert want in r.text.splitlines(), r.text
    assert "# TYPE traefik_tls_certs_not_after gauge" in r.text


def test_without_any_tls_configuration_a_client_hello_is_refused(wharf, backends):
    """Nothing serves TLS: no options are compiled and no default certificate is generated
    (they cost resident memory), and a TLS client is closed rather than served."""
    b = backends.http("plain")
    w = wharf.start({"api": {"insecure": True}, "entryPoints": {"web": {}}}, dynamic={"http": {
        "routers": {"r": {"rule": "Host(`a.example`)", "service": "s"}},
        "services": {"s": {"loadBalancer": {"servers": [{"url": b.url}]}}},
    }})
    assert w.get("/api/certificates").json() == []
    with pytest.raises((ssl.SSLError, OSError)):
        https_get(w.ports["web"], "a.example")
    r = w.http.get(w.url("/echo", "web"), headers={"Host": "a.example"}, timeout=5)
    assert r.status_code == 200
