"""Active health checks of https servers probe with the service's serversTransport (issue 9;
TRAEFIK-COMPAT §10): Traefik's probe uses the service's own transport, so a backend behind a
private CA (rootCAs), reached with a serverName other than the URL's host, requiring a client
certificate (certificates), or checked by peerCertURI is UP when the transport is right, and
DOWN when it is not. The static default serversTransport (rootCAs) applies to services
without one.

The backends are real TLS servers (tests/integration/tlsbackend.py): nginx, whose access log
shows the probes that got through, and `openssl s_server -www -Verify 1`, which fails the
handshake without a client certificate issued by its CA. The state is read where a user reads
it: serverStatus in /api/http/services/<name>. A server is UP until its first probe, so every
test waits for a companion service on the same backend to go DOWN (its probes ran) and then
for the expected UP to hold over several more probes. Only loopback is contacted.
"""
import os
import time

import pytest

from backends import wait_until
from conftest import require_service
from tlsbackend import Nginx, SServer, TLSRecordingBackend, issue_san
from tlsutil import CA

SPIFFE = "spiffe://example.org/backend"
NAME = "backend.example"  # the only name in the backend's certificate (no IP SAN)
HC = {"path": "/", "interval": "1s", "timeout": "1s"}
STATIC = {"api": {"insecure": True}, "entryPoints": {"web": {}}}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = CA(d / "ca", name="backend CA")
    other = CA(d / "other", name="other CA")
    return {
        "ca": ca,
        "ca_pem": str(ca.cert),
        "other_pem": str(other.cert),
        "backend": issue_san(ca, "backend", NAME, f"DNS:{NAME},URI:{SPIFFE}"),
        "localhost": ca.issue("localhost"),
        "client": ca.issue("wharf-proxy", client=True),
    }


@pytest.fixture
def servers(tmp_path):
    made = []

    class Servers:
        def nginx(self, cert_key):
            require_service("nginx", lambda: os.access(Nginx.BINARY, os.X_OK),
                            "the nginx-light package")
            n = Nginx(tmp_path / f"nginx{len(made)}", *cert_key)
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


def start(wharf, url, transports, services=None, static=None):
    """One service per transport (service name = transport name, each with a router), all
    probing the server `url`; `services` adds services with a loadBalancer of their own."""
    svcs = {name: {"loadBalancer": {"servers": [{"url": url}], "serversTransport": name,
                                    "healthCheck": HC}}
            for name in transports}
    svcs.update(services or {})
    routers = {name: {"rule": f"Host(`{name}.example`)", "service": name,
                      "entryPoints": ["web"]} for name in svcs}
    dynamic = {"http": {"routers": routers, "services": svcs,
                        "serversTransports": transports}}
    return wharf.start(static or STATIC, dynamic=dynamic)


def status(w, service, url):
    r = w.get(f"/api/http/services/{service}@file")
    if r.status_code != 200:
        return None
    return r.json().get("serverStatus", {}).get(url)


def expect(w, url, want, timeout=15.0):
    """Waits until every service of want ({service: "UP"/"DOWN"}) shows that state for url,
    then checks that it holds over three more probe intervals."""
    def now():
        return {s: status(w, s, url) for s in want}
    assert wait_until(lambda: now() == want, timeout, interval=0.2), (now(), w.log_tail())
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        assert now() == want, (now(), w.log_tail())
        time.sleep(0.25)


def test_probe_verifies_with_root_cas_and_server_name(wharf, servers, pki):
    """rootCAs (one file) and serverName make the probe of an https://127.0.0.1 server whose
    certificate names only backend.example UP; without the private CA, or without serverName
    (the URL's IP is verified then), the same server is DOWN."""
    n = servers.nginx(pki["backend"])
    w = start(wharf, n.https_url, {
        "verified": {"rootCAs": [pki["ca_pem"]], "serverName": NAME},
        "noroots": {"serverName": NAME},
        "noname": {"rootCAs": [pki["ca_pem"]]},
    })
    expect(w, n.https_url, {"verified": "UP", "noroots": "DOWN", "noname": "DOWN"})
    # The UP comes from probes that reached the backend (the failed ones never send a request).
    assert wait_until(lambda: len(n.lines()) >= 3, 5), n.lines()
    assert "service noroots@file: server " + n.https_url + " is DOWN" in w.log(), w.log_tail()


def test_probe_presents_the_client_certificate(wharf, servers, pki):
    """A backend that requires a client certificate (s_server -Verify 1): UP with
    certificates given as inline PEM (and rootCAs inline), UP with certificates as files (and
    two rootCAs files), DOWN without certificates."""
    s = servers.s_server(pki["backend"], client_ca=pki["ca_pem"])
    cert, key = pki["client"]
    w = start(wharf, s.https_url, {
        "inline": {"serverName": NAME,
                   "rootCAs": [open(pki["ca_pem"]).read()],
                   "certificates": [{"certFile": open(cert).read(),
                                     "keyFile": open(key).read()}]},
        "files": {"serverName": NAME,
                  "rootCAs": [pki["other_pem"], pki["ca_pem"]],
                  "certificates": [{"certFile": str(cert), "keyFile": str(key)}]},
        "nocert": {"serverName": NAME, "rootCAs": [pki["ca_pem"]]},
    })
    expect(w, s.https_url, {"inline": "UP", "files": "UP", "nocert": "DOWN"})


def test_probe_checks_peer_cert_uri(wharf, servers, pki):
    """peerCertURI: the probe is UP when the backend's URI SAN matches, DOWN with the reason
    in the log when it does not."""
    n = servers.nginx(pki["backend"])
    base = {"rootCAs": [pki["ca_pem"]], "serverName": NAME}
    w = start(wharf, n.https_url, {
        "spiffe": {**base, "peerCertURI": SPIFFE},
        "otherid": {**base, "peerCertURI": "spiffe://example.org/someone-else"},
    })
    expect(w, n.https_url, {"spiffe": "UP", "otherid": "DOWN"})
    w.wait_for_log(r"service otherid@file: server \S+ is DOWN: .*does not match peerCertURI "
                   r"\"spiffe://example.org/someone-else\"")


def test_probe_uses_the_static_default_transport_root_cas(wharf, servers, pki):
    """A service without serversTransport probes with the static serversTransport.rootCAs:
    https://localhost with a certificate of the private CA is UP; a service whose transport
    lacks the CA is DOWN."""
    n = servers.nginx(pki["localhost"])
    url = f"https://localhost:{n.port}"
    static = {**STATIC, "serversTransport": {"rootCAs": [pki["ca_pem"]]}}
    w = start(wharf, url, {"noroots": {}}, static=static,
              services={"dflt": {"loadBalancer": {"servers": [{"url": url}],
                                                  "healthCheck": HC}}})
    expect(w, url, {"dflt": "UP", "noroots": "DOWN"})



def test_probe_sends_server_name_as_sni_and_the_url_host_as_host(wharf, pki):
    """As Go's probe: the SNI (and the name verified) is serverName, while the Host header
    stays the server URL's host, or healthCheck.hostname when set; the backend's answer,
    read through the verified connection, decides UP or DOWN."""
    cert, key = pki["backend"]
    b = TLSRecordingBackend("tlsrec", cert, key)
    snis = []
    b.tls_ctx.sni_callback = lambda sslobj, name, ctx: snis.append(name)
    try:
        url = b.https_url
        hc = {"path": "/health", "interval": "1s", "timeout": "1s"}
        services = {
            name: {"loadBalancer": {"servers": [{"url": url}], "serversTransport": "st",
                                    "healthCheck": {**hc, **extra}}}
            for name, extra in (("plain", {}), ("named", {"hostname": "probe.example"}))}
        routers = {name: {"rule": f"Host(`{name}.example`)", "service": name,
                          "entryPoints": ["web"]} for name in services}
        w = wharf.start(STATIC, dynamic={"http": {
            "routers": routers, "services": services,
            "serversTransports": {"st": {"rootCAs": [pki["ca_pem"]], "serverName": NAME}}}})

        def hosts():
            return {r.header("Host") for r in b.log(include_health=True)
                    if r.path == "/health"}
        want = {f"127.0.0.1:{b.port}", "probe.example"}
        assert wait_until(lambda: hosts() == want, 15), (hosts(), w.log_tail())
        assert snis and set(snis) == {NAME}, snis
        expect(w, url, {"plain": "UP", "named": "UP"})
        b.healthy = False
        expect(w, url, {"plain": "DOWN", "named": "DOWN"})
        assert "received error status code 503" in w.log(), w.log_tail()
    finally:
        b.stop()
