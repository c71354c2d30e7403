"""The ACME challenges' side of the data plane through the real binary (issue 8; TRAEFIK-COMPAT
§6; HARDENING 45), as a user sees it while no challenge is pending:

- `certificatesResolvers.<r>.acme.httpChallenge.entryPoint` installs `acme-http@internal`
  (rule ``PathPrefix(`/.well-known/acme-challenge/`)``, priority MaxInt) on that entry point: an
  unknown token is a 404 at once, never proxied to a user's catch-all router nor redirected by
  the entry point's redirection to https;
- a ClientHello offering only `acme-tls/1` is refused without a pending TLS-ALPN-01 challenge,
  while normal HTTPS on the same entry point goes on.

Answering real challenges is tested against pebble with the ACME client (the registry the
client fills is unit-tested in tests/unit/lib/acme/test_challenges.c). The resolvers point at a
closed loopback port: nothing here may reach a real CA.
"""
import socket
import ssl
import time

import pytest

from backends import lb_service, wait_until
from conftest import free_port
from tlsutil import CA, client_context, der, https_get

MAXINT = 9223372036854775807
CHALLENGE = "/.well-known/acme-challenge/"


@pytest.fixture(scope="module")
def env(module_wharf, module_backends, tmp_path_factory):
    pki_dir = tmp_path_factory.mktemp("pki")
    ca = CA(pki_dir)
    cert, key = ca.issue("app.example")
    web_bk = module_backends.http("catchall-web")
    plain_bk = module_backends.http("catchall-plain")
    app_bk = module_backends.http("app")
    closed_ca = f"https://127.0.0.1:{free_port()}/directory"
    storage = str(pki_dir / "acme.json")

    def resolver(**challenge):
        return {"acme": {"email": "ops@example.com", "caServer": closed_ca, "storage": storage,
                         **challenge}}

    static = {
        "api": {"insecure": True},
        "entryPoints": {
            "web": {"http": {"redirections": {"entryPoint": {"to": "websecure",
                                                             "scheme": "https"}}}},
            "plain": {},
            "websecure": {},
        },
        "certificatesResolvers": {
            "le": resolver(httpChallenge={"entryPoint": "web"}),
            "le2": resolver(httpChallenge={"entryPoint": "plain"}),
            "alpn": resolver(tlsChallenge={}),
        },
    }
    dynamic = {
        "http": {
            "routers": {
                "catchall-web": {"rule": "PathPrefix(`/`)", "service": "catchall-web",
                                 "entryPoints": ["web"]},
                "catchall-plain": {"rule": "PathPrefix(`/`)", "service": "catchall-plain",
                                   "entryPoints": ["plain"]},
                "app": {"rule": "Host(`app.example`)", "service": "app",
                        "entryPoints": ["websecure"], "tls": {}},
            },
            "services": {
                "catchall-web": lb_service(web_bk.url),
                "catchall-plain": lb_service(plain_bk.url),
                "app": lb_service(app_bk.url),
            },
        },
        "tls": {"certificates": [{"certFile": str(cert), "keyFile": str(key)}]},
    }
    w = module_wharf.start(static, dynamic=dynamic)

    def routed():
        try:
            r = w.http.get(w.url("/ready", "plain"), timeout=5)
        except OSError:
            return False
        return r.status_code == 200

    wait_until(routed, 15.0, 0.05)
    return {"w": w, "web_bk": web_bk, "plain_bk": plain_bk, "app_bk": app_bk, "cert": cert,
            "ca": ca}


def challenge_requests(bk):
    return bk.find(lambda r: r.path.startswith("/.well-known"))


def test_acme_http_router_is_listed(env):
    w = env["w"]
    r = w.get("/api/http/routers/acme-http@internal")
    assert r.status_code == 200, r.text
    rt = r.json()
    assert rt["rule"] == "PathPrefix(`/.well-known/acme-challenge/`)"
    assert rt["priority"] == MAXINT
    assert rt["service"] == "acme-http@internal"
    assert sorted(rt["entryPoints"]) == ["plain", "web"]
    assert rt["status"] == "enabled"


@pytest.mark.parametrize("ep", ["plain", "web"])
@pytest.mark.parametrize("host", ["app.example", "anything.test", "127.0.0.1"])
def test_unknown_token_is_404_not_proxied_nor_redirected(env, ep, host):
    w, bk = env["w"], env["web_bk" if ep == "web" else "plain_bk"]
    bk.clear()
    t0 = time.monotonic()
    r = w.http.get(w.url(CHALLENGE + "unknownToken_123-abc", ep), headers={"Host": host},
                   allow_redirects=False, timeout=5)
    elapsed = time.monotonic() - t0
    assert r.status_code == 404
    assert r.text == "404 page not found\n"
    assert "Location" not in r.headers
    assert elapsed < 2.0  # at once: no waiting for the token to appear
    assert challenge_requests(bk) == []


@pytest.mark.parametrize("path", [CHALLENGE, CHALLENGE + "a/b", CHALLENGE + "..%2f..%2fetc",
                                  CHALLENGE + "x" * 200, CHALLENGE + "tok?x=1"])
def test_odd_challenge_paths_are_404(env, path):
    w, bk = env["w"], env["web_bk"]
    bk.clear()
    r = w.http.get(w.url(path, "web"), allow_redirects=False, timeout=5)
    assert r.status_code == 404
    assert "Location" not in r.headers
    assert challenge_requests(bk) == []


def test_other_paths_keep_their_routes(env):
    """The challenge router takes its prefix only: the redirection and the user's router still
    own everything else (so the 404s above come from acme-http@internal)."""
    w = env["w"]
    r = w.http.get(w.url("/.well-known/other", "web"), allow_redirects=False, timeout=5)
    assert r.status_code in (301, 302, 307, 308)
    assert r.headers["Location"].startswith("https://")
    env["plain_bk"].clear()
    r = w.http.get(w.url("/.well-known/acme-challengeX", "plain"), timeout=5)
    assert r.status_code == 200
    assert len(env["plain_bk"].find(lambda q: q.path == "/.well-known/acme-challengeX")) == 1


def acme_only_handshake(port, sni):
    """Handshake offering only acme-tls/1; returns (peer certificate DER, ALPN) or raises."""
    ctx = client_context(alpn=["acme-tls/1"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            return s.getpeercert(binary_form=True), s.selected_alpn_protocol()


@pytest.mark.parametrize("sni", ["app.example", "new.example"])
def test_acme_tls_alpn_refused_without_challenge(env, sni):
    port = env["w"].ports["websecure"]
    with pytest.raises((ssl.SSLError, ConnectionError)):
        acme_only_handshake(port, sni)
    # TLS 1.2 too
    ctx = client_context(alpn=["acme-tls/1"], maxv=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(raw, server_hostname=sni)


def test_https_unaffected(env):
    port = env["w"].ports["websecure"]
    env["app_bk"].clear()
    res = https_get(port, "app.example", path="/hello",
                    ctx=client_context(ca=env["ca"].cert, alpn=["http/1.1"]))
    assert res.status == 200
    assert res.cert == der(env["cert"])
    assert res.alpn == "http/1.1"
    assert len(env["app_bk"].find(lambda q: q.path == "/hello")) == 1
    # a client that also offers acme-tls/1 is served as usual
    res = https_get(port, "app.example", path="/hello",
                    ctx=client_context(ca=env["ca"].cert, alpn=["acme-tls/1", "http/1.1"]))
    assert res.status == 200
    assert res.alpn == "http/1.1"
