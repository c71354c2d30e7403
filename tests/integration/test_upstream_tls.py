"""TLS from wharf to its backends (issue 9; TRAEFIK-COMPAT §2, §7, §10): serversTransports
with rootCAs, serverName (SNI and the name verified), insecureSkipVerify, client certificates,
peerCertURI, idle pooling and session resumption, the static default transport, invalid
transports, TLS to TCP backends, and a WebSocket over an https backend.

The backends are real TLS servers made by the test (tests/integration/tlsbackend.py): nginx
answering `sni=<SNI> host=<Host> client=<client certificate DN>` and logging
`<connection> <r|.>` per request, so the TLS handshakes and resumptions are counted on the
backend; `openssl s_server -Verify 1` for a backend that fails the handshake without a client
certificate; Python TLS servers for TCP and WebSocket. Certificates come from the openssl
command line (tlsutil.CA, tlsbackend.issue_san/self_signed). Only loopback is contacted.
"""
import http.client
import json
import os
import socket
import ssl
import threading
import time

import pytest

from backends import wait_until, ws_connect, ws_read_frame, ws_roundtrip, ws_send_frame
from conftest import require_service
from tlsbackend import Nginx, SServer, TLSEcho, TLSRecordingBackend, issue_san, self_signed
from tlsutil import CA, client_context

SPIFFE = "spiffe://example.org/backend"
HOST = "app.example"


# ---- certificates and backends ------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = CA(d / "ca", name="backend CA")
    p = {"dir": d, "ca": ca, "ca_pem": str(ca.cert)}
    p["backend"] = issue_san(ca, "backend", "backend.example",
                             f"DNS:backend.example,URI:{SPIFFE}")
    p["ip"] = ca.issue("127.0.0.1")
    p["localhost"] = ca.issue("localhost")
    p["client"] = ca.issue("wharf-proxy", client=True)
    p["edge"] = ca.issue("db.example", sans=["db.example", "bad.example"])
    p["untrusted"] = self_signed(d / "untrusted", "untrusted", "backend.example",
                                 "DNS:backend.example,IP:127.0.0.1")
    return p


def _nginx_available():
    return os.access(Nginx.BINARY, os.X_OK)


@pytest.fixture
def servers(tmp_path):
    """Makes nginx / s_server backends in this test's directory; stops them at teardown."""
    made = []

    class Servers:
        def nginx(self, cert_key, **kw):
            require_service("nginx", _nginx_available, "the nginx-light package")
            n = Nginx(tmp_path / f"nginx{len(made)}", *cert_key, **kw)
            made.append(n)
            return n

        def s_server(self, cert_key, **kw):
            require_service("openssl")
            s = SServer(tmp_path / f"s_server{len(made)}", *cert_key, **kw)
            made.append(s)
            return s

    yield Servers()
    for m in made:
        m.stop()


# ---- configuration helpers ----------------------------------------------------------------

def route(host, service):
    return {"rule": f"Host(`{host}`)", "service": service, "entryPoints": ["web"]}


def https_service(url, transport=None):
    lb = {"servers": [{"url": url}]}
    if transport:
        lb["serversTransport"] = transport
    return {"loadBalancer": lb}


def one_backend(url, transport=None):
    """Dynamic configuration: Host(app.example) -> url, through serversTransport `st` =
    `transport` when given."""
    dyn = {"http": {"routers": {"r": route(HOST, "s")},
                    "services": {"s": https_service(url, "st" if transport is not None
                                                    else None)}}}
    if transport is not None:
        dyn["http"]["serversTransports"] = {"st": transport}
    return dyn


def static(workers=2, **extra):
    conf = {"entryPoints": {"web": {}}, "wharf": {"workers": workers}}
    conf.update(extra)
    return conf


def routed(w, host=HOST, path="/", timeout=15.0):
    """The first answer for host that is not the 404 of a configuration not applied yet."""
    last, err = None, None

    def ok():
        nonlocal last, err
        try:
            last = w.get(path, "web", headers={"Host": host})
        except Exception as e:  # noqa: BLE001 (keep polling until the deadline)
            err = e
            return False
        return last.status_code != 404

    wait_until(ok, timeout, 0.05)
    assert last is not None, f"no answer for {host}{path}: {err!r}\n{w.log_tail()}"
    return last


def tls_failure(w, port, reason=r"", timeout=10.0):
    """Waits for the warning naming the backend https://127.0.0.1:port and a reason matching
    the regex `reason`; returns the line."""
    m = w.wait_for_log(
        rf"WRN [^\n]*TLS to backend https://127\.0\.0\.1:{port} failed: [^\n]*(?:{reason})[^\n]*",
        timeout)
    return m.group(0)


# ---- verification, SNI --------------------------------------------------------------------

@pytest.mark.parametrize("inline", [False, True], ids=["rootCAs-file", "rootCAs-inline-pem"])
def test_verified_https_backend_with_server_name(wharf, servers, pki, inline):
    n = servers.nginx(pki["backend"])
    ca = open(pki["ca_pem"]).read() if inline else pki["ca_pem"]
    w = wharf.start(static(), one_backend(
        n.https_url, {"serverName": "backend.example", "rootCAs": [ca]}))
    r = routed(w)
    assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
    assert r.text == f"sni=backend.example host={HOST} client=\n"
    assert len(n.connections()) >= 1
    assert "TLS to backend" not in w.log()


def test_default_sni_is_the_url_host(wharf, servers, pki):
    n = servers.nginx(pki["localhost"])
    w = wharf.start(static(), one_backend(f"https://localhost:{n.port}",
                                          {"rootCAs": [pki["ca_pem"]]}))
    r = routed(w)
    assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
    assert r.text == f"sni=localhost host={HOST} client=\n"


def test_untrusted_backend_refused_unless_insecure_skip_verify(wharf, servers, pki):
    n = servers.nginx(pki["untrusted"])
    dyn = {"http": {
        "routers": {"verify": route("verify.example", "verify"),
                    "system": route("system.example", "system"),
                    "insecure": route("insecure.example", "insecure")},
        "services": {"verify": https_service(n.https_url, "ca"),
                     "system": https_service(n.https_url),
                     "insecure": https_service(n.https_url, "skip")},
        "serversTransports": {
            "ca": {"serverName": "backend.example", "rootCAs": [pki["ca_pem"]]},
            "skip": {"insecureSkipVerify": True},
        }}}
    w = wharf.start(static(), dyn)
    # Verified against rootCAs, and against the system roots (no transport): both refused.
    for host in ("verify.example", "system.example"):
        r = routed(w, host)
        assert r.status_code == 502, (host, r.status_code, r.text)
    line = tls_failure(w, n.port, r"verify|self[- ]signed")
    assert "self-signed" in line or "self signed" in line, line
    # Never a silent fallback: no request reached the backend.
    assert n.lines() == []

    for _ in range(6):
        r = routed(w, "insecure.example")
        assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
        assert r.text == "sni= host=insecure.example client=\n"
    w.wait_for_log(r"WRN [^\n]*insecureSkipVerify")
    # Still refused on the verifying routes after the insecure one was used.
    assert routed(w, "verify.example").status_code == 502
    time.sleep(0.3)  # a duplicate warning would be written by now
    warnings = [ln for ln in w.log().splitlines() if "insecureSkipVerify" in ln]
    assert len(warnings) == 1, warnings


def test_wrong_server_name_refused(wharf, servers, pki):
    n = servers.nginx(pki["backend"])
    w = wharf.start(static(), one_backend(
        n.https_url, {"serverName": "other.example", "rootCAs": [pki["ca_pem"]]}))
    r = routed(w)
    assert r.status_code == 502, (r.status_code, r.text)
    tls_failure(w, n.port, r"hostname|mismatch|verify")
    assert n.lines() == []


# ---- client certificates ------------------------------------------------------------------

def _mtls_dynamic(url, pki):
    client = {"certFile": str(pki["client"][0]), "keyFile": str(pki["client"][1])}
    base = {"serverName": "backend.example", "rootCAs": [pki["ca_pem"]]}
    return {"http": {
        "routers": {"nocert": route("nocert.example", "nocert"),
                    "withcert": route("withcert.example", "withcert")},
        "services": {"nocert": https_service(url, "plain"),
                     "withcert": https_service(url, "mtls")},
        "serversTransports": {"plain": dict(base),
                              "mtls": dict(base, certificates=[client])}}}


def test_nginx_requiring_a_client_certificate(wharf, servers, pki):
    n = servers.nginx(pki["backend"], client_ca=pki["ca_pem"])
    w = wharf.start(static(), _mtls_dynamic(n.https_url, pki))
    r = routed(w, "withcert.example")
    assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
    assert r.text == "sni=backend.example host=withcert.example client=CN=wharf-proxy\n"
    # nginx completes the handshake without a certificate and answers 400 itself.
    r = routed(w, "nocert.example")
    assert r.status_code != 200 and "CN=wharf-proxy" not in r.text, (r.status_code, r.text)


def test_backend_failing_the_handshake_without_client_certificate(wharf, servers, pki):
    s = servers.s_server(pki["backend"], client_ca=pki["ca_pem"])
    w = wharf.start(static(), _mtls_dynamic(s.https_url, pki))
    r = routed(w, "nocert.example")
    assert r.status_code == 502, (r.status_code, r.text[:300])
    tls_failure(w, s.port)
    r = routed(w, "withcert.example")
    assert r.status_code == 200, (r.status_code, r.text[:300], w.log_tail())
    assert "wharf-proxy" in r.text  # s_server's page prints the client certificate


def test_rotated_files_are_picked_up_without_a_configuration_change(wharf, servers, pki,
                                                                    tmp_path):
    """A rootCAs bundle and a client certificate rewritten in place (a CA rotation, a
    short-lived client certificate renewed by step-ca or cert-manager) take effect within a
    few seconds, with no provider event, like served certificates."""
    import shutil

    n = servers.nginx(pki["backend"], client_ca=pki["ca_pem"])
    other = CA(tmp_path / "other", name="other CA")
    roots = tmp_path / "roots.pem"
    shutil.copy(other.cert, roots)  # the wrong CA first
    crt, key = tmp_path / "client.pem", tmp_path / "client.key"
    first = pki["ca"].issue("first-client", client=True)
    shutil.copy(first[0], crt)
    shutil.copy(first[1], key)
    w = wharf.start(static(), one_backend(n.https_url, {
        "serverName": "backend.example", "rootCAs": [str(roots)],
        "certificates": [{"certFile": str(crt), "keyFile": str(key)}]}))
    assert routed(w).status_code == 502
    tls_failure(w, n.port, "certificate verify failed")

    shutil.copy(pki["ca_pem"], roots)  # the CA rotated in place
    wait_until(lambda: w.get("/", "web", headers={"Host": HOST}).status_code == 200, 15, 0.2)
    assert "client=CN=first-client" in w.get("/", "web", headers={"Host": HOST}).text

    second = pki["ca"].issue("second-client", client=True)
    # the renewed pair is written beside and renamed over, as renewal tools do
    shutil.copy(second[0], tmp_path / "new.pem")
    shutil.copy(second[1], tmp_path / "new.key")
    os.replace(tmp_path / "new.key", key)
    os.replace(tmp_path / "new.pem", crt)

    def renewed():
        r = w.get("/", "web", headers={"Host": HOST})
        return r.status_code == 200 and "client=CN=second-client" in r.text

    wait_until(renewed, 15, 0.2)
    w.wait_for_log("TLS certificate or CA files changed; reloading")


# ---- peerCertURI --------------------------------------------------------------------------

def test_peer_cert_uri(wharf, servers, pki):
    n = servers.nginx(pki["backend"])
    base = {"serverName": "backend.example", "rootCAs": [pki["ca_pem"]]}
    dyn = {"http": {
        "routers": {"match": route("match.example", "match"),
                    "other": route("other.example", "other")},
        "services": {"match": https_service(n.https_url, "match"),
                     "other": https_service(n.https_url, "other")},
        "serversTransports": {
            "match": dict(base, peerCertURI=SPIFFE),
            "other": dict(base, peerCertURI="spiffe://example.org/someone-else")}}}
    w = wharf.start(static(), dyn)
    r = routed(w, "match.example")
    assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
    assert r.text == "sni=backend.example host=match.example client=\n"
    r = routed(w, "other.example")
    assert r.status_code == 502, (r.status_code, r.text)
    line = tls_failure(w, n.port, r"peerCertURI")
    assert "spiffe://example.org/someone-else" in line, line
    assert len(n.lines()) == 1  # only the matching route's request reached the backend


# ---- pooling and resumption ---------------------------------------------------------------

def _keepalive_client(port, n, host, errors, statuses, expect=b"sni=backend.example "):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(n):
            c.request("GET", "/", headers={"Host": host})
            resp = c.getresponse()
            body = resp.read()
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.status != 200 or not body.startswith(expect):
                errors.append((resp.status, body[:200]))
                if len(errors) > 5:
                    return
    except Exception as e:  # noqa: BLE001 (reported by the test)
        errors.append(repr(e))
    finally:
        c.close()


def test_upstream_tls_connections_are_reused(wharf, servers, pki):
    workers, idle, clients, total = 2, 4, 4, 10_000
    n = servers.nginx(pki["backend"])
    w = wharf.start(static(workers=workers), one_backend(n.https_url, {
        "serverName": "backend.example", "rootCAs": [pki["ca_pem"]],
        "maxIdleConnsPerHost": idle}))
    assert routed(w).status_code == 200, w.log_tail()
    before = len(n.lines())
    errors, statuses = [], {}
    threads = [threading.Thread(target=_keepalive_client,
                                args=(w.ports["web"], total // clients, HOST, errors, statuses))
               for _ in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - t0
    assert not errors, (errors[:5], statuses)
    assert statuses == {200: total}, statuses
    wait_until(lambda: len(n.lines()) >= before + total, 10)
    conns = n.connections()
    assert 1 <= len(conns) <= workers * idle, (
        f"{len(conns)} TLS handshakes on the backend for {total} requests in {elapsed:.1f}s "
        f"(bound {workers} workers x {idle} idle)")


def test_transport_without_max_idle_keeps_its_connections(wharf, servers, pki):
    """A transport that does not set maxIdleConnsPerHost pools like the static default (200),
    not like Go's 2: 16 keep-alive clients in parallel reuse their upstream connections instead
    of opening one per request."""
    workers, clients, per_client = 2, 16, 100
    n = servers.nginx(pki["backend"])
    w = wharf.start(static(workers=workers), one_backend(n.https_url, {
        "serverName": "backend.example", "rootCAs": [pki["ca_pem"]]}))
    assert routed(w).status_code == 200, w.log_tail()
    before = len(n.lines())
    errors, statuses = [], {}
    threads = [threading.Thread(target=_keepalive_client,
                                args=(w.ports["web"], per_client, HOST, errors, statuses))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, (errors[:5], statuses)
    assert statuses == {200: clients * per_client}, statuses
    wait_until(lambda: len(n.lines()) >= before + clients * per_client, 10)
    # at most one upstream connection per client connection in flight (plus the probe's);
    # with 2 idle per worker it would be hundreds
    conns = n.connections()
    assert len(conns) <= clients + 2, f"{len(conns)} TLS handshakes for {clients * per_client}"


@pytest.mark.parametrize("protocol", ["TLSv1.2", "TLSv1.3"])
def test_session_resumed_on_new_connections(wharf, servers, pki, protocol):
    # keepalive_requests 1: nginx closes every connection after one answer, so each request
    # is a new upstream TLS connection, which should resume the session of the one before.
    n = servers.nginx(pki["backend"], keepalive_requests=1, protocols=protocol)
    w = wharf.start(static(workers=1), one_backend(
        n.https_url, {"serverName": "backend.example", "rootCAs": [pki["ca_pem"]]}))
    for _ in range(4):
        r = routed(w)
        assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
    wait_until(lambda: len(n.lines()) >= 4, 10)
    lines = n.lines()
    assert len(n.connections()) == len(lines) == 4, lines
    assert all(p == protocol for _, _, p in lines), lines
    assert lines[0][1] == "."
    assert [r for _, r, _ in lines[1:]] == ["r", "r", "r"], lines


def test_idle_connection_closed_after_idle_conn_timeout_then_resumed(wharf, servers, pki):
    n = servers.nginx(pki["backend"])
    w = wharf.start(static(workers=1), one_backend(n.https_url, {
        "serverName": "backend.example", "rootCAs": [pki["ca_pem"]],
        "forwardingTimeouts": {"idleConnTimeout": "1s"}}))
    assert routed(w).status_code == 200, w.log_tail()
    # nginx (info level) notes the close of an idle keep-alive connection by its client.
    wait_until(lambda: "closed keepalive connection" in n.error_log.read_text(), 10)
    assert w.get("/", "web", headers={"Host": HOST}).status_code == 200
    wait_until(lambda: len(n.lines()) >= 2, 10)
    lines = n.lines()
    assert len(n.connections()) == 2, lines
    assert lines[-1][1] == "r", lines


# ---- the static default transport ---------------------------------------------------------

def test_static_default_transport(wharf, servers, pki):
    n = servers.nginx(pki["ip"])
    dyn = one_backend(n.https_url)  # no serversTransport on the service
    w = wharf.start(static(serversTransport={"rootCAs": [pki["ca_pem"]]}), dyn, name="withca")
    r = routed(w)
    assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
    assert r.text == f"sni= host={HOST} client=\n"  # no SNI for an IP address
    w.stop()

    w = wharf.start(static(), dyn, name="noca")
    r = routed(w)
    assert r.status_code == 502, (r.status_code, r.text)
    tls_failure(w, n.port, r"verify")


def test_static_default_insecure_skip_verify(wharf, servers, pki):
    n = servers.nginx(pki["untrusted"])
    w = wharf.start(static(serversTransport={"insecureSkipVerify": True}),
                    one_backend(n.https_url))
    r = routed(w)
    assert r.status_code == 200, (r.status_code, r.text, w.log_tail())
    w.wait_for_log(r"WRN [^\n]*insecureSkipVerify")


# ---- invalid transports -------------------------------------------------------------------

def test_invalid_transport_disables_only_its_routers(wharf, backends, pki, tmp_path):
    plain = backends.http("plain")
    missing_ca = str(tmp_path / "nonexistent" / "ca.pem")
    missing_key = str(tmp_path / "nonexistent" / "client.key")
    dyn = {"http": {
        "routers": {"badca": route("badca.example", "badca"),
                    "badkey": route("badkey.example", "badkey"),
                    "good": route("good.example", "good")},
        "services": {"badca": https_service("https://127.0.0.1:9", "badca"),
                     "badkey": https_service("https://127.0.0.1:9", "badkey"),
                     "good": https_service(plain.url)},
        "serversTransports": {
            "badca": {"rootCAs": [missing_ca]},
            "badkey": {"rootCAs": [pki["ca_pem"]],
                       "certificates": [{"certFile": str(pki["client"][0]),
                                         "keyFile": missing_key}]}}}}
    w = wharf.start(static(api={"insecure": True}), dyn)
    r = routed(w, "good.example", "/echo")
    assert r.status_code == 200 and r.headers.get("X-Backend") == "plain", r.text

    def router(name):
        got = w.get(f"/api/http/routers/{name}@file")
        return got.json() if got.status_code == 200 else None

    for name, path in (("badca", missing_ca), ("badkey", missing_key)):
        rt = wait_until(lambda: router(name), 10)
        assert rt is not None, f"{name}@file not in /api/http/routers"
        assert rt["status"] == "disabled", rt
        assert any(path in e for e in rt.get("error") or []), rt
        assert w.get("/", "web", headers={"Host": f"{name}.example"}).status_code == 404
    assert router("good")["status"] == "enabled"
    assert w.get("/echo", "web", headers={"Host": "good.example"}).status_code == 200


# ---- TCP ----------------------------------------------------------------------------------

def _tls_exchange(port, sni, ca, payload, timeout=5.0):
    """Sends payload over TLS (SNI `sni`) to wharf; returns what comes back until `timeout`
    or the close (b"" when closed without data)."""
    ctx = client_context(ca=ca)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    with ctx.wrap_socket(raw, server_hostname=sni) as s:
        s.sendall(payload)
        data = b""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and len(data) < len(payload) + 8:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (OSError, ssl.SSLError):
            pass
        return data


def test_tcp_router_to_tls_backend(wharf, pki):
    good = TLSEcho(*pki["backend"])
    bad = TLSEcho(*pki["untrusted"])
    try:
        edge_cert, edge_key = pki["edge"]
        transport = {"tls": {"serverName": "backend.example", "rootCAs": [pki["ca_pem"]]}}
        dyn = {
            "tcp": {
                "routers": {
                    "t": {"rule": "HostSNI(`db.example`)", "service": "good",
                          "entryPoints": ["websecure"], "tls": {}},
                    "u": {"rule": "HostSNI(`bad.example`)", "service": "bad",
                          "entryPoints": ["websecure"], "tls": {}},
                },
                "services": {
                    "good": {"loadBalancer": {
                        "servers": [{"address": f"127.0.0.1:{good.port}", "tls": True}],
                        "serversTransport": "tst"}},
                    "bad": {"loadBalancer": {
                        "servers": [{"address": f"127.0.0.1:{bad.port}", "tls": True}],
                        "serversTransport": "tst"}},
                },
                "serversTransports": {"tst": transport},
            },
            "tls": {"certificates": [{"certFile": str(edge_cert), "keyFile": str(edge_key)}]},
        }
        w = wharf.start({"entryPoints": {"websecure": {}}, "wharf": {"workers": 2}}, dyn)
        port = w.ports["websecure"]
        ca = pki["ca_pem"]

        def served():
            try:
                return _tls_exchange(port, "db.example", ca, b"ping", 2) == b"tlsecho:ping"
            except (OSError, ssl.SSLError):
                return False

        wait_until(served, 15, 0.1)
        payload = b"hello through two TLS hops\n" * 50
        got = _tls_exchange(port, "db.example", ca, payload)
        assert got.startswith(b"tlsecho:") and payload in got.replace(b"tlsecho:", b""), got[:80]
        assert good.received.endswith(payload)  # decrypted by the backend, as sent
        assert set(good.snis) == {"backend.example"}, good.snis

        got = _tls_exchange(port, "bad.example", ca, b"secret")
        assert got == b"", got
        assert bad.received == b""
        w.wait_for_log(rf"TLS to backend [^\n]*127\.0\.0\.1:{bad.port}[^\n]*failed")
    finally:
        good.close()
        bad.close()


def test_tcp_tls_server_without_transport_uses_static_tcp_servers_transport(wharf, pki):
    """A TCP server with tls: true and no serversTransport verifies against the static
    tcpServersTransport.tls.rootCAs; without it (system roots) the private CA is refused."""
    echo = TLSEcho(*pki["ip"])  # names 127.0.0.1
    try:
        edge_cert, edge_key = pki["edge"]
        dyn = {
            "tcp": {
                "routers": {"t": {"rule": "HostSNI(`db.example`)", "service": "s",
                                  "entryPoints": ["websecure"], "tls": {}}},
                "services": {"s": {"loadBalancer": {
                    "servers": [{"address": f"127.0.0.1:{echo.port}", "tls": True}]}}},
            },
            "tls": {"certificates": [{"certFile": str(edge_cert), "keyFile": str(edge_key)}]},
        }
        ca = pki["ca_pem"]
        for static_ca, expect in ((True, b"tlsecho:ping"), (False, b"")):
            static = {"entryPoints": {"websecure": {}}}
            if static_ca:
                static["tcpServersTransport"] = {"tls": {"rootCAs": [ca]}}
            w = wharf.start(static, dyn)
            port = w.ports["websecure"]

            def answered():
                try:
                    _tls_exchange(port, "db.example", ca, b"ping", 2)
                    return True
                except (OSError, ssl.SSLError):
                    return False

            wait_until(answered, 15, 0.1)
            assert _tls_exchange(port, "db.example", ca, b"ping") == expect
            if not static_ca:
                w.wait_for_log(rf"TLS to backend tls://127\.0\.0\.1:{echo.port} failed: "
                               r"certificate verify failed")
            w.stop()
    finally:
        echo.close()


# ---- WebSocket ----------------------------------------------------------------------------

def test_websocket_over_https_backend(wharf, pki):
    b = TLSRecordingBackend("ws-tls", *pki["backend"])
    try:
        w = wharf.start(static(), one_backend(
            b.https_url, {"serverName": "backend.example", "rootCAs": [pki["ca_pem"]]}))
        r = routed(w, path="/echo")
        assert r.status_code == 200 and r.headers.get("X-Backend") == "ws-tls", (
            r.status_code, r.text, w.log_tail())
        c, resp = ws_connect(w.ports["web"], "/ws", host=HOST)
        try:
            assert resp is not None and resp.status == 101, resp
            for i in range(5):
                msg = f"frame {i} ".encode() * (i + 1)
                assert ws_roundtrip(c, msg) == (0x1, msg)
            big = bytes(range(256)) * 400
            assert ws_roundtrip(c, big, opcode=0x2) == (0x2, big)
            ws_send_frame(c.sock, 0x8, b"\x03\xe8")
            assert ws_read_frame(c.rd) == (0x8, b"\x03\xe8")
        finally:
            c.close()
    finally:
        b.stop()



# ---- bodies ---------------------------------------------------------------------------------

def test_large_bodies_both_ways_over_https_backend(wharf, pki):
    """64 MiB down (chunked, read slowly at first so that back-pressure engages) and 16 MiB up
    through TLS to the backend arrive intact (byte count and CRC), and the connection is
    reused for the next request."""
    import zlib

    from backends import RawConn, pattern_chunks, pattern_crc

    b = TLSRecordingBackend("big-tls", *pki["backend"])
    try:
        w = wharf.start(static(), one_backend(
            b.https_url, {"serverName": "backend.example", "rootCAs": [pki["ca_pem"]]}))
        assert routed(w, path="/echo").status_code == 200, w.log_tail()
        down, up = 64 << 20, 16 << 20
        with RawConn(w.ports["web"]) as c:
            c.sock.settimeout(60)
            c.request("GET", f"/stream/{down}?te=chunked&chunk=100000", host=HOST)
            time.sleep(0.5)  # the proxy's buffers fill while nothing is read
            r = c.read_response()
            assert r is not None and r.status == 200
            assert len(r.body) == down and zlib.crc32(r.body) == pattern_crc(down)
            body = b"".join(pattern_chunks(up))
            c.request("POST", "/sink?pause_at=1000000&pause=0.5", host=HOST, body=body)
            r = c.read_response()
            assert r is not None and r.status == 200, r
            got = json.loads(r.body)
            assert got["len"] == up and got["crc32"] == pattern_crc(up), got
        assert len(b.requests) >= 2
    finally:
        b.stop()
