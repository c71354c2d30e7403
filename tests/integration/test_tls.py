"""TLS termination, SNI certificate selection, tls.options, mTLS, 421, the HTTPS redirect and
TCP routers (passthrough by SNI, TLS-terminated TCP, plaintext catch-all) through the real
binary (issue 5; TRAEFIK-COMPAT §3 TCP matchers and §6; HARDENING 20-25).

Certificates are made here with the openssl command line (tests/integration/tlsutil.py); the
clients are Python's ssl module and raw sockets on loopback.
"""
import json
import socket
import ssl
import threading
import time

import pytest

import tlsutil
from tlsutil import CA, client_context, der, https_get


# ---- backends that speak TLS or raw TCP ----------------------------------------------------

class TLSBackend:
    """A TLS origin with its own certificate that answers every request with `name`."""

    def __init__(self, cert, key, name):
        self.name = name
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handshakes = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.settimeout(5)
            s = self.ctx.wrap_socket(conn, server_side=True)
            self.handshakes += 1
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    return
                data += chunk
            body = self.name.encode()
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                      % (len(body), body))
            s.close()
        except (OSError, ssl.SSLError):
            conn.close()

    def close(self):
        self.sock.close()


class EchoBackend:
    """A raw TCP server that answers each chunk it reads with `name:` + the chunk."""

    def __init__(self, name):
        self.name = name.encode()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.peers = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.peers.append(peer)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        with conn:
            conn.settimeout(10)
            try:
                while True:
                    d = conn.recv(65536)
                    if not d:
                        return
                    conn.sendall(self.name + b":" + d)
            except OSError:
                return

    def close(self):
        self.sock.close()


def recv_some(s, n, timeout=5.0):
    s.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# ---- the module's wharf ------------------------------------------------------------------

CLIENT_AUTH = {
    "none": "NoClientCert",
    "request": "RequestClientCert",
    "anycert": "RequireAnyClientCert",
    "given": "VerifyClientCertIfGiven",
    "verify": "RequireAndVerifyClientCert",
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca = CA(d / "ca")
    other = CA(d / "other", name="untrusted CA")
    p = {"dir": d, "ca": ca, "other": other}
    p["a_ec"] = ca.issue("a.example", kind="ec")
    p["a_rsa"] = ca.issue("a.example", kind="rsa")
    p["wild"] = ca.issue("*.wild.example")
    hosts = [f"{m}.example" for m in CLIENT_AUTH] + ["old.example", "broken.example",
                                                      "badca.example", "tcp.example"]
    p["multi"] = ca.issue("multi.example", sans=hosts)
    p["client_ok"] = ca.issue("client", client=True)
    p["client_bad"] = other.issue("client", client=True)
    p["pass"] = other.issue("pass.example")
    return p


@pytest.fixture(scope="module")
def tls_env(module_wharf, module_backends, pki):
    bk = {n: module_backends.http(n) for n in ("a", "wild", "m", "plain", "dflt")}
    passb = TLSBackend(*pki["pass"], "passthrough-backend")
    echo = EchoBackend("echo")
    echo_tls = EchoBackend("tlsecho")
    echo_alpn = EchoBackend("alpnecho")
    ca = str(pki["ca"].cert)

    def r(host, svc, options=None, tls=True):
        d = {"rule": f"Host(`{host}`)", "service": svc, "entryPoints": ["websecure"]}
        if tls:
            d["tls"] = {"options": options} if options else {}
        return d

    routers = {
        "a": r("a.example", "a"),
        "wild": r("x.wild.example", "wild"),
        "old": r("old.example", "a", "old"),
        "broken": r("broken.example", "a", "broken"),
        "badca": r("badca.example", "m", "badca"),
        "plain": r("plain.example", "plain", tls=False),
        "nohost": {"rule": "PathPrefix(`/nohost`)", "service": "dflt", "tls": {},
                   "entryPoints": ["websecure"]},
    }
    options = {
        "old": {"minVersion": "VersionTLS10"},
        "broken": {"minVersion": "VersionTLS14"},
        "badca": {"clientAuth": {"caFiles": ["/nonexistent/ca.pem"],
                                 "clientAuthType": "RequireAndVerifyClientCert"}},
    }
    for mode, typ in CLIENT_AUTH.items():
        routers[f"ca-{mode}"] = r(f"{mode}.example", "m", f"ca-{mode}")
        options[f"ca-{mode}"] = {"clientAuth": {"caFiles": [ca], "clientAuthType": typ}}
    certs = [{"certFile": str(c), "keyFile": str(k)}
             for c, k in (pki["a_ec"], pki["a_rsa"], pki["wild"], pki["multi"])]
    dynamic = {
        "http": {
            "routers": routers,
            "services": {n: {"loadBalancer": {"servers": [{"url": b.url}]}}
                         for n, b in bk.items()},
        },
        "tcp": {
            "routers": {
                "pass": {"rule": "HostSNI(`pass.example`)", "service": "pass",
                         "entryPoints": ["websecure"], "tls": {"passthrough": True}},
                "term": {"rule": "HostSNI(`tcp.example`)", "service": "tlsecho",
                         "entryPoints": ["websecure"], "tls": {}},
                "alpn": {"rule": "ALPN(`x-wharf`)", "service": "alpnecho",
                         "entryPoints": ["websecure"], "tls": {}},
                "catchall": {"rule": "HostSNI(`*`)", "service": "echo",
                             "entryPoints": ["tcpplain"]},
                "regexp": {"rule": "HostSNIRegexp(`^re-[a-z]+\\.example$`)",
                           "service": "tlsecho", "entryPoints": ["websecure"], "tls": {}},
                "cip": {"rule": "HostSNI(`cip.example`) && ClientIP(`127.0.0.0/8`)",
                        "service": "tlsecho", "entryPoints": ["websecure"], "tls": {}},
                "cipno": {"rule": "HostSNI(`cipno.example`) && ClientIP(`10.0.0.0/8`)",
                          "service": "tlsecho", "entryPoints": ["websecure"], "tls": {}},
            },
            "services": {
                "pass": {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{passb.port}"}]}},
                "echo": {"loadBalancer": {"servers": [{"address": f"127.0.0.1:{echo.port}"}]}},
                "tlsecho": {"loadBalancer": {
                    "servers": [{"address": f"127.0.0.1:{echo_tls.port}"}]}},
                "alpnecho": {"loadBalancer": {
                    "servers": [{"address": f"127.0.0.1:{echo_alpn.port}"}]}},
            },
        },
        "tls": {"certificates": certs, "options": options},
    }
    w = module_wharf.start({
        "api": {"insecure": True},
        "log": {"level": "DEBUG"},
        "entryPoints": {
            "web": {"http": {"redirections": {"entryPoint": {"to": "websecure",
                                                             "scheme": "https"}}}},
            "websecure": {"transport": {"respondingTimeouts": {"readTimeout": "2s"}}},
            "tcpplain": {},
        },
    }, dynamic=dynamic)
    yield {"w": w, "pki": pki, "bk": bk, "pass": passb, "echo": echo, "port":
           w.ports["websecure"]}
    for b in (passb, echo, echo_tls, echo_alpn):
        b.close()


def backend_of(res):
    return json.loads(res.body).get("backend") if res.body.startswith(b"{") else None


def outcome(port, sni, host=None, **ctxkw):
    """The HTTP status over TLS, or "fail" when the handshake or the request failed."""
    try:
        res = https_get(port, sni, host=host, ctx=client_context(**ctxkw))
    except (ssl.SSLError, OSError):
        return "fail"
    return res.status if res.response else "fail"


# ---- SNI and certificates -----------------------------------------------------------------

def test_https_request_is_routed_and_answered(tls_env):
    res = https_get(tls_env["port"], "a.example")
    assert res.status == 200
    assert dict(tls_env["bk"]["a"].requests[-1].headers).get("X-Forwarded-Proto") == "https"
    assert res.version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize("sni,cert", [
    ("a.example", "a_ec"),          # exact
    ("A.Example", "a_ec"),          # mixed case
    ("a.example.", "a_ec"),         # trailing dot
    ("x.wild.example", "wild"),     # wildcard, one label
    ("given.example", "multi"),     # one SAN among several
])
def test_sni_selects_the_certificate(tls_env, sni, cert):
    res = https_get(tls_env["port"], sni, host="a.example")
    assert res.cert == der(tls_env["pki"][cert][0])


def test_wildcard_covers_exactly_one_label_and_unknown_names_get_the_default(tls_env):
    known = {der(tls_env["pki"][k][0]) for k in ("a_ec", "a_rsa", "wild", "multi")}
    for sni in ("a.b.wild.example", "wild.example", "unknown.example", None):
        res = https_get(tls_env["port"], sni, host="a.example")
        assert res.cert not in known, sni
        # the generated default certificate
        assert b"TRAEFIK DEFAULT CERT" in res.cert


def test_rsa_and_ecdsa_certificates_for_the_same_name_are_chosen_by_the_client(tls_env):
    rsa_only = client_context()
    rsa_only.set_ciphers("ECDHE-RSA-AES128-GCM-SHA256")
    rsa_only.maximum_version = ssl.TLSVersion.TLSv1_2
    ec_only = client_context()
    ec_only.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    ec_only.maximum_version = ssl.TLSVersion.TLSv1_2
    assert https_get(tls_env["port"], "a.example", ctx=rsa_only).cert == der(
        tls_env["pki"]["a_rsa"][0])
    assert https_get(tls_env["port"], "a.example", ctx=ec_only).cert == der(
        tls_env["pki"]["a_ec"][0])


def test_tls_routers_serve_only_tls_and_plain_routers_only_plaintext(tls_env):
    w = tls_env["w"]
    assert https_get(tls_env["port"], "plain.example").status == 404
    r = w.http.get(w.url("/", "websecure"), headers={"Host": "plain.example"}, timeout=5)
    assert r.status_code == 200
    r = w.http.get(w.url("/", "websecure"), headers={"Host": "a.example"}, timeout=5)
    assert r.status_code == 404


def test_request_without_sni_is_routed_by_host(tls_env):
    res = https_get(tls_env["port"], None, host="a.example")
    assert res.status == 200 and backend_of(res) == "a"


# ---- versions and ALPN --------------------------------------------------------------------

@pytest.mark.parametrize("version,ok", [
    (ssl.TLSVersion.TLSv1, False),
    (ssl.TLSVersion.TLSv1_1, False),
    (ssl.TLSVersion.TLSv1_2, True),
    (ssl.TLSVersion.TLSv1_3, True),
])
def test_default_options_refuse_tls_1_0_and_1_1(tls_env, version, ok):
    got = outcome(tls_env["port"], "a.example", minv=version, maxv=version, seclevel0=True)
    assert (got == 200) is ok, got


def test_min_version_option_lowers_the_floor_for_its_hosts_only(tls_env):
    v10 = dict(minv=ssl.TLSVersion.TLSv1, maxv=ssl.TLSVersion.TLSv1, seclevel0=True)
    assert outcome(tls_env["port"], "old.example", **v10) == 200
    assert outcome(tls_env["port"], "a.example", **v10) == "fail"


def test_alpn_never_offers_h2(tls_env):
    res = https_get(tls_env["port"], "a.example", ctx=client_context(alpn=["h2", "http/1.1"]))
    assert res.alpn == "http/1.1" and res.status == 200
    # h2 alone has nothing in common with what wharf speaks: refused with
    # no_application_protocol, as Go (and so Traefik) does without an overlap
    assert outcome(tls_env["port"], "a.example", alpn=["h2"]) == "fail"
    res = https_get(tls_env["port"], "a.example")  # no ALPN at all
    assert res.alpn is None and res.status == 200


# ---- client authentication ----------------------------------------------------------------

@pytest.mark.parametrize("mode,none,trusted,untrusted", [
    ("none", 200, 200, 200),
    ("request", 200, 200, 200),
    ("anycert", "fail", 200, 200),
    ("given", 200, 200, "fail"),
    ("verify", "fail", 200, "fail"),
])
def test_client_auth_modes(tls_env, mode, none, trusted, untrusted):
    pki = tls_env["pki"]
    sni = f"{mode}.example"
    assert outcome(tls_env["port"], sni) == none
    ok_c, ok_k = pki["client_ok"]
    bad_c, bad_k = pki["client_bad"]
    assert outcome(tls_env["port"], sni, cert=ok_c, key=ok_k) == trusted
    assert outcome(tls_env["port"], sni, cert=bad_c, key=bad_k) == untrusted


def test_misdirected_request_when_host_needs_other_tls_options(tls_env):
    """HARDENING 20: SNI a.example (default options), Host of an mTLS router → 421, and the
    mTLS backend never sees the request."""
    m = tls_env["bk"]["m"]
    before = len(m.requests)
    assert https_get(tls_env["port"], "a.example", host="verify.example").status == 421
    assert len(m.requests) == before
    # same options on both names: served
    assert https_get(tls_env["port"], "a.example", host="x.wild.example").status == 200


def test_mixed_case_sni_gets_the_same_client_auth_policy(tls_env):
    """HARDENING 21: an SNI spelled differently still requires the client certificate."""
    for sni in ("VERIFY.example", "verify.example."):
        assert outcome(tls_env["port"], sni, host="verify.example") == "fail"
        ok_c, ok_k = tls_env["pki"]["client_ok"]
        assert outcome(tls_env["port"], sni, host="verify.example", cert=ok_c, key=ok_k) == 200


# ---- bad TLS configuration fails closed (HARDENING 24) -------------------------------------

def test_invalid_options_disable_their_routers_only(tls_env):
    w = tls_env["w"]
    routers = {r["name"]: r for r in w.get("/api/http/routers?per_page=1000").json()}
    broken = routers["broken@file"]
    assert broken["status"] == "disabled"
    assert any("VersionTLS14" in e for e in broken.get("error", [])), broken
    badca = routers["badca@file"]
    assert badca["status"] == "disabled", badca
    assert any("ca.pem" in e for e in badca.get("error", [])), badca
    assert routers["a@file"]["status"] == "enabled"
    # never served without the client authentication it asked for
    assert outcome(tls_env["port"], "badca.example") in (404, "fail")
    assert outcome(tls_env["port"], "broken.example") in (404, "fail")
    assert outcome(tls_env["port"], "a.example") == 200


# ---- redirect ------------------------------------------------------------------------------

def test_web_redirects_to_websecure(tls_env):
    w = tls_env["w"]
    r = w.http.get(w.url("/some/path?q=1", "web"), headers={"Host": "a.example"},
                   allow_redirects=False, timeout=5)
    assert r.status_code in (301, 308)
    port = tls_env["port"]
    assert r.headers["Location"] == f"https://a.example:{port}/some/path?q=1" or \
        r.headers["Location"] == "https://a.example/some/path?q=1", r.headers["Location"]


# ---- ClientHello reading (HARDENING 22-23) ------------------------------------------------

def send_pieces(sock, data, size, pause=0.002):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(data), size):
        sock.sendall(data[i:i + size])
        time.sleep(pause)


@pytest.mark.parametrize("how", ["one-byte-segments", "two-records", "both"])
def test_split_client_hello_is_routed(tls_env, how):
    hello, obj, inc, out = tlsutil.client_hello("x.wild.example")
    if how in ("two-records", "both"):
        hello = tlsutil.split_records(hello, 40)
    with socket.create_connection(("127.0.0.1", tls_env["port"]), timeout=5) as s:
        send_pieces(s, hello, 1 if how != "two-records" else len(hello))
        tlsutil.finish_handshake(s, obj, inc, out)
        assert obj.getpeercert(binary_form=True) == der(tls_env["pki"]["wild"][0])
        resp = tlsutil.obj_request(s, obj, inc, out, "x.wild.example")
    assert resp.startswith(b"HTTP/1.1 200")


def test_stalled_client_hello_is_closed_at_the_deadline(tls_env):
    hello, *_ = tlsutil.client_hello("a.example")
    with socket.create_connection(("127.0.0.1", tls_env["port"]), timeout=5) as s:
        s.sendall(hello[:20])  # a truncated record, then silence
        t = tlsutil.closed_within(s, 8)
    assert t is not None and 1.0 <= t <= 5.0, t


@pytest.mark.parametrize("junk", [
    b"\x16\x03\x01\x00\x05hello",                                  # not a handshake message
    b"\x16\x03\x01\x40\x00" + b"\x01\x00\x50\x00" + b"\x00" * 16380,  # hello over 16 KiB
    b"\x16\x09\x09\x00\x10" + b"\x00" * 16,                        # bad record version
])
def test_junk_or_oversized_client_hello_is_closed(tls_env, junk):
    w = tls_env["w"]
    with socket.create_connection(("127.0.0.1", tls_env["port"]), timeout=5) as s:
        try:
            s.sendall(junk + b"\x00" * 4096)
        except OSError:
            pass
        assert tlsutil.closed_within(s, 4) is not None
    assert w.running()
    assert https_get(tls_env["port"], "a.example").status == 200


# ---- TCP routers ---------------------------------------------------------------------------

def test_passthrough_by_sni_reaches_the_backend_that_terminates(tls_env):
    res = https_get(tls_env["port"], "pass.example")
    assert res.cert == der(tls_env["pki"]["pass"][0])  # the backend's certificate
    assert res.body == b"passthrough-backend"


def test_passthrough_with_a_split_client_hello(tls_env):
    hello, obj, inc, out = tlsutil.client_hello("pass.example")
    hello = tlsutil.split_records(hello, 7)
    with socket.create_connection(("127.0.0.1", tls_env["port"]), timeout=5) as s:
        send_pieces(s, hello, 1)
        tlsutil.finish_handshake(s, obj, inc, out)
        assert obj.getpeercert(binary_form=True) == der(tls_env["pki"]["pass"][0])
        assert tlsutil.obj_request(s, obj, inc, out, "pass.example").endswith(
            b"passthrough-backend")


def test_tls_terminated_tcp_router_tunnels_plaintext(tls_env):
    ctx = client_context()
    with socket.create_connection(("127.0.0.1", tls_env["port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="tcp.example") as s:
            assert s.getpeercert(binary_form=True) == der(tls_env["pki"]["multi"][0])
            s.sendall(b"ping")
            assert recv_some(s, len(b"tlsecho:ping")) == b"tlsecho:ping"


def test_alpn_matcher_routes_tcp(tls_env):
    ctx = client_context(alpn=["x-wharf"])
    with socket.create_connection(("127.0.0.1", tls_env["port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="a.example") as s:
            s.sendall(b"hi")
            assert recv_some(s, len(b"alpnecho:hi")) == b"alpnecho:hi"


def test_plaintext_catch_all_tcp_router(tls_env):
    w = tls_env["w"]
    with socket.create_connection(("127.0.0.1", w.ports["tcpplain"]), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert recv_some(s, 5 + 18) == b"echo:GET / HTTP/1.1\r\n\r\n"


def test_tcp_routers_are_listed_with_their_tls(tls_env):
    w = tls_env["w"]
    routers = {r["name"]: r for r in w.get("/api/tcp/routers?per_page=100").json()}
    assert routers["pass@file"]["tls"]["passthrough"] is True
    assert routers["pass@file"]["status"] == "enabled"


@pytest.mark.parametrize("sni,tcp", [
    ("re-abc.example", True),     # HostSNIRegexp
    ("re-ab1.example", False),
    ("cip.example", True),        # ClientIP of the socket
    ("cipno.example", False),
])
def test_tcp_matchers_hostsniregexp_and_clientip(tls_env, sni, tcp):
    """A TCP router that does not match leaves the connection to the HTTPS routers (404 here)."""
    ctx = client_context()
    with socket.create_connection(("127.0.0.1", tls_env["port"]), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: nobody.example\r\n\r\n")
            got = recv_some(s, 12)
    if tcp:
        assert got.startswith(b"tlsecho:GET"), got
    else:
        assert got.startswith(b"HTTP/1.1 404"), got
