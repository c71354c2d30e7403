"""The forwardAuth middleware through the real binary (TRAEFIK-COMPAT §4 "forwardAuth"), with
a Python auth server on loopback: a 2xx lets the request through with the listed auth
headers copied onto it; any other answer (status, headers, body) reaches the client, its
Location resolved against the auth address; an auth server that is down, or whose answer is
over the size cap, gives 500 (HARDENING 36: memory flat). The call is asynchronous on the
worker loop: a slow auth server holds up nothing else on the only worker, and a client that
goes away meanwhile leaves nothing behind (the sanitizers report at teardown)."""

import http.server
import json
import socket
import threading
import time

import pytest

from backends import RawConn, RssSampler, lb_service, wait_routed
from conftest import free_port

BIG = 64 << 20  # an auth answer wharf must never buffer whole


class AuthHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, status, headers=(), body=b"", length=True):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _any(self):
        srv = self.server
        with srv.lock:
            srv.seen.append({"method": self.command, "path": self.path,
                             "headers": [(k, v) for k, v in self.headers.items()]})
        p = self.path.split("?")[0]
        if p == "/auth/allow":
            self._send(200, [("X-Auth-User", "alice"), ("X-Auth-Role", "admin"),
                             ("X-Auth-Role", "ops"), ("X-Other", "o"),
                             ("Set-Cookie", "unlisted=1; Path=/")], b"ok")
        elif p == "/auth/deny":
            self._send(401, [("WWW-Authenticate", 'Bearer realm="wharf-test"'),
                             ("Content-Type", "text/plain"), ("X-Deny", "1")],
                       b"denied by auth\n")
        elif p == "/auth/redirect":
            self._send(302, [("Location", "../login?rd=1")], b"")
        elif p == "/auth/slow":
            time.sleep(2)
            self._send(200, [("X-Auth-User", "slow")])
        elif p == "/auth/cookie":
            self._send(200, [("Set-Cookie", "session=abc; Path=/")])
        elif p == "/auth/bigcl":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            self._stream(BIG)
        elif p == "/auth/big":
            # no length: read until close, so only the cap can stop it
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self._stream(BIG)
        else:
            self._send(404)

    def _stream(self, n):
        block = b"x" * (1 << 16)
        try:
            while n > 0:
                self.wfile.write(block[:min(n, len(block))])
                n -= len(block)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_DELETE = _any


class AuthServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), AuthHandler)
        self.lock = threading.Lock()
        self.seen = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.server_address[1]}{path}"

    def find(self, marker):
        with self.lock:
            for r in self.seen:
                for k, v in r["headers"]:
                    if k.lower() == "x-forwarded-uri" and marker in v:
                        return r
        return None


def hdr(rec, name):
    vals = [v for k, v in rec["headers"] if k.lower() == name.lower()]
    return vals


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    bk = module_backends.http("echo")
    auth = AuthServer()
    down = free_port()
    fa = lambda path, **kw: {"forwardAuth": {"address": auth.url(path), **kw}}  # noqa: E731
    middlewares = {
        "allow": fa("/auth/allow", authResponseHeaders=["X-Auth-User"],
                    authResponseHeadersRegex="^X-Auth-R"),
        "filtered": fa("/auth/allow", authRequestHeaders=["Authorization"]),
        "trusted": fa("/auth/allow", trustForwardHeader=True),
        "deny": fa("/auth/deny"),
        "signin": fa("/auth/deny", authSigninURL="https://login.example/start?a=1&b=2"),
        "redirect": fa("/auth/redirect"),
        "keeploc": fa("/auth/redirect", preserveLocationHeader=True),
        "down": {"forwardAuth": {"address": f"http://127.0.0.1:{down}/auth"}},
        "slow": fa("/auth/slow", authResponseHeaders=["X-Auth-User"]),
        "big": fa("/auth/big"),
        "bigcl": fa("/auth/bigcl"),
        "capped": fa("/auth/allow", maxResponseBodySize=1),
        "method": fa("/auth/allow", preserveRequestMethod=True),
        "body": fa("/auth/allow", forwardBody=True),
        "cookie": fa("/auth/cookie", addAuthCookiesToResponse=["session"]),
    }
    routers = {name: {"rule": f"Host(`{name}.example`)", "service": "echo",
                      "entryPoints": ["web"], "middlewares": [name]} for name in middlewares}
    routers["open"] = {"rule": "Host(`open.example`)", "service": "echo", "entryPoints": ["web"]}
    w = module_wharf.start({"entryPoints": {"web": {}}, "wharf": {"workers": 1}},
                           dynamic={"http": {"routers": routers, "middlewares": middlewares,
                                             "services": {"echo": lb_service(bk.url)}}})
    wait_routed(w, "open.example")
    yield {"w": w, "auth": auth, "bk": bk}
    auth.shutdown()
    auth.server_close()


def send(env, host, target="/echo", headers=(), method="GET", timeout=20.0):
    with RawConn(env["w"].ports["web"], timeout=timeout) as c:
        c.request(method, target, host=host, headers=list(headers))
        r = c.read_response(head=method == "HEAD")
        assert r is not None
        return r


def received(r):
    return {k.lower(): v for k, v in json.loads(r.body)["headers"]}


# ---- allowed --------------------------------------------------------------------------------

def test_allowed_copies_listed_headers(env):
    r = send(env, "allow.example", "/echo?m=allowed",
             headers=[("X-Auth-User", "mallory"), ("X-Auth-Rank", "spoofed"),
                      ("Cookie", "a=b")])
    assert r.status == 200, r
    h = received(r)
    assert h["x-auth-user"] == "alice"            # replaced by the auth server's
    assert h["x-auth-role"] == "admin, ops"       # by the regex, every value
    assert "x-auth-rank" not in h                 # matched the regex: the client's is removed
    assert "x-other" not in h                     # not listed
    assert "set-cookie" not in r.headers and "unlisted" not in str(r.headers)
    rec = env["auth"].find("m=allowed")
    assert rec["method"] == "GET" and rec["path"] == "/auth/allow"
    assert hdr(rec, "Cookie") == ["a=b"]
    assert hdr(rec, "X-Forwarded-Method") == ["GET"]
    assert hdr(rec, "X-Forwarded-Proto") == ["http"]
    assert hdr(rec, "X-Forwarded-Host") == ["allow.example"]
    assert hdr(rec, "X-Forwarded-Uri") == ["/echo?m=allowed"]
    assert hdr(rec, "X-Forwarded-Port") == ["80"]
    assert hdr(rec, "X-Forwarded-For") == ["127.0.0.1"]
    assert hdr(rec, "Accept") == []               # nothing the client did not send
    assert hdr(rec, "User-Agent") == []


def test_untrusted_forwarded_headers_dropped(env):
    r = send(env, "allow.example", "/echo?m=spoof",
             headers=[("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Host", "evil.example"),
                      ("X-Forwarded-Uri", "/admin"), ("X_Forwarded_Proto", "https"),
                      ("X-Real-Ip", "6.6.6.6")])
    assert r.status == 200, r
    rec = env["auth"].find("m=spoof")
    assert hdr(rec, "X-Forwarded-For") == ["127.0.0.1"]
    assert hdr(rec, "X-Forwarded-Host") == ["allow.example"]
    assert hdr(rec, "X-Forwarded-Proto") == ["http"]
    assert hdr(rec, "X_Forwarded_Proto") == []
    assert hdr(rec, "X-Real-Ip") == []


def test_trust_forward_header_keeps_entrypoint_view(env):
    # the peer is not in forwardedHeaders.trustedIPs: its own X-Forwarded-* are gone at the
    # entry point, and what the entry point fills in reaches the auth server
    r = send(env, "trusted.example", "/echo?m=trusted", headers=[("X-Forwarded-Host", "evil")])
    assert r.status == 200, r
    rec = env["auth"].find("m=trusted")
    assert hdr(rec, "X-Forwarded-Host") == ["trusted.example"]
    assert hdr(rec, "X-Real-Ip") == ["127.0.0.1"]
    assert hdr(rec, "X-Forwarded-For") == ["127.0.0.1"]
    assert len(hdr(rec, "X-Forwarded-Server")) == 1


def test_auth_request_headers_filter(env):
    r = send(env, "filtered.example", "/echo?m=filtered",
             headers=[("Authorization", "Bearer t"), ("Cookie", "c=d"), ("X-Custom", "1"),
                      ("Connection", "keep-alive, X-Custom")])
    assert r.status == 200, r
    rec = env["auth"].find("m=filtered")
    assert hdr(rec, "Authorization") == ["Bearer t"]
    assert hdr(rec, "Cookie") == [] and hdr(rec, "X-Custom") == []
    assert hdr(rec, "X-Forwarded-Method") == ["GET"]


def test_preserve_request_method(env):
    r = send(env, "method.example", "/echo?m=method", method="DELETE")
    assert r.status == 200, r
    assert env["auth"].find("m=method")["method"] == "DELETE"
    assert hdr(env["auth"].find("m=method"), "X-Forwarded-Method") == ["DELETE"]


# ---- refused --------------------------------------------------------------------------------

def test_denied_returns_auth_answer(env):
    marker = "m=denied"
    r = send(env, "deny.example", f"/echo?{marker}")
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == 'Bearer realm="wharf-test"'
    assert r.header("X-Deny") == "1"
    assert r.header("Content-Type") == "text/plain"
    assert r.body == b"denied by auth\n"
    assert not env["bk"].find(lambda q: marker in q.target)


def test_keep_alive_connection_goes_on_after_a_denial(env):
    """The denial is answered when the auth call returns, outside the parser: the next
    request on the same connection must still be read and served (it used to hang)."""
    with RawConn(env["w"].ports["web"], timeout=5) as c:
        for host, want in (("deny.example", 401), ("deny.example", 401), ("open.example", 200)):
            c.request("GET", "/echo?after-deny", host=host)
            r = c.read_response()
            assert r is not None and r.status == want, (host, r)


def test_signin_url_on_401(env):
    r = send(env, "signin.example", "/echo?m=signin")
    assert r.status == 302, r
    assert r.header("Location") == "https://login.example/start?a=1&b=2"
    assert b"Found</a>" in r.body and b"&amp;b=2" in r.body


def test_redirect_location_resolved(env):
    r = send(env, "redirect.example", "/echo?m=redir")
    assert r.status == 302, r
    assert r.header("Location") == env["auth"].url("/login?rd=1")


def test_redirect_location_preserved(env):
    r = send(env, "keeploc.example", "/echo?m=keeploc")
    assert r.status == 302, r
    assert r.header("Location") == "../login?rd=1"


def test_auth_server_down_500(env):
    r = send(env, "down.example", "/echo?m=down")
    assert r.status == 500, r
    assert not env["bk"].find(lambda q: "m=down" in q.target)
    assert "error calling" in env["w"].log()


def test_forward_body_fails_closed(env):
    r = send(env, "body.example", "/echo?m=body")
    assert r.status == 500, r
    assert "forwardBody is not supported" in env["w"].log()


def test_listed_auth_cookie_reaches_the_client(env):
    """addAuthCookiesToResponse: the auth server's cookie is a Set-Cookie field of the
    response the backend produced."""
    r = send(env, "cookie.example", "/echo?m=cookie")
    assert r.status == 200, r
    assert r.header_all("Set-Cookie") == ["session=abc; Path=/"], r


# ---- limits ---------------------------------------------------------------------------------

def test_explicit_cap_is_traefiks_401(env):
    r = send(env, "capped.example", "/echo?m=capped")
    assert r.status == 401, r


def test_oversized_answer_500_memory_flat(env):
    w = env["w"]
    for host in ("bigcl.example", "big.example"):
        r = send(env, host, "/echo?m=warm")
        assert r.status == 500, r
    s = RssSampler(w.proc.pid)
    for i in range(6):
        host = "big.example" if i % 2 else "bigcl.example"
        r = send(env, host, f"/echo?m=big{i}")
        assert r.status == 500, r
    s.stop()
    # buffering one 64 MiB answer whole would show; the 1 MiB cap keeps the peak low
    assert s.max - s.before < 32 * 1024, (s.before, s.max)


# ---- asynchronous on the worker loop ---------------------------------------------------------

def test_slow_auth_does_not_block_worker(env):
    done = {}

    def slow():
        r = send(env, "slow.example", "/echo?m=slow")
        done["slow"] = (r.status, received(r).get("x-auth-user"))

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.2)
    t0 = time.monotonic()
    for _ in range(5):
        assert send(env, "open.example").status == 200
    assert "slow" not in done, "the other requests waited for the auth server"
    assert time.monotonic() - t0 < 1.5
    t.join(20)
    assert done["slow"] == (200, "slow")


def test_client_gone_meanwhile(env):
    for i in range(3):
        with socket.create_connection(("127.0.0.1", env["w"].ports["web"])) as s:
            s.sendall(f"GET /echo?m=gone{i} HTTP/1.1\r\nHost: slow.example\r\n\r\n".encode())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
            env["auth"].find(f"m=gone{i}") for i in range(3)):
        time.sleep(0.05)
    time.sleep(2.5)  # the auth answers arrive after the clients left
    assert send(env, "open.example").status == 200
    assert send(env, "allow.example").status == 200
    assert env["w"].running()


# ---- TLS to the auth server ------------------------------------------------------------------

class QuietAuthServer(AuthServer):
    def handle_error(self, request, client_address):
        pass  # refused handshakes are part of the test


def test_tls_to_auth_server(wharf, backends, tmp_path):
    import ssl

    from tlsutil import CA

    ca = CA(tmp_path / "ca")
    srv_cert, srv_key = ca.issue("127.0.0.1", sans=["127.0.0.1"])
    cli_cert, cli_key = ca.issue("wharf-client", client=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(srv_cert, srv_key)
    ctx.load_verify_locations(ca.cert)
    ctx.verify_mode = ssl.CERT_REQUIRED  # mTLS: wharf must present its client certificate
    auth = QuietAuthServer()
    auth.socket = ctx.wrap_socket(auth.socket, server_side=True)
    url = f"https://127.0.0.1:{auth.server_address[1]}/auth/allow"
    try:
        bk = backends.http("echo")
        files = {"ca": str(ca.cert), "cert": str(cli_cert), "key": str(cli_key)}
        inline = {k: open(v).read() for k, v in files.items()}
        middlewares = {
            "files": {"forwardAuth": {"address": url, "tls": files}},
            "inline": {"forwardAuth": {"address": url, "tls": inline}},
            "insecure": {"forwardAuth": {"address": url, "tls": {
                "cert": files["cert"], "key": files["key"], "insecureSkipVerify": True}}},
            "noclient": {"forwardAuth": {"address": url, "tls": {"ca": files["ca"]}}},
            "noca": {"forwardAuth": {"address": url}},
        }
        routers = {n: {"rule": f"Host(`{n}.example`)", "service": "echo",
                       "entryPoints": ["web"], "middlewares": [n]} for n in middlewares}
        w = wharf.start({"entryPoints": {"web": {}}},
                        dynamic={"http": {"routers": routers, "middlewares": middlewares,
                                          "services": {"echo": lb_service(bk.url)}}})
        wait_routed(w, "files.example")
        e = {"w": w}
        expect = {"files": 200, "inline": 200, "insecure": 200, "noclient": 500, "noca": 500}
        got = {n: send(e, f"{n}.example", f"/echo?m=tls-{n}").status for n in expect}
        assert got == expect
        assert hdr(auth.find("m=tls-files"), "X-Forwarded-Method") == ["GET"]
        assert auth.find("m=tls-noclient") is None  # refused at the handshake
    finally:
        auth.shutdown()
        auth.server_close()


def test_stop_while_auth_call_in_flight(wharf, backends):
    auth = AuthServer()
    try:
        bk = backends.http("echo")
        mw = {"slow": {"forwardAuth": {"address": auth.url("/auth/slow")}}}
        w = wharf.start({"entryPoints": {"web": {}}, "wharf": {"workers": 1}}, dynamic={"http": {
            "routers": {"slow": {"rule": "Host(`slow.example`)", "service": "echo",
                                 "entryPoints": ["web"], "middlewares": ["slow"]}},
            "middlewares": mw, "services": {"echo": lb_service(bk.url)}}})
        wait_routed(w, "slow.example", path="/ready")  # the auth call itself takes 2 s
        s = socket.create_connection(("127.0.0.1", w.ports["web"]))
        s.sendall(b"GET /echo?m=stop HTTP/1.1\r\nHost: slow.example\r\n\r\n")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not auth.find("m=stop"):
            time.sleep(0.05)
        t0 = time.monotonic()
        assert w.stop() == 0
        assert time.monotonic() - t0 < 4.5  # the loop ends once the auth call is over
        assert w.sanitizer_report() is None
        s.close()
    finally:
        auth.shutdown()
        auth.server_close()
