"""HARDENING.md items 1-12 (HTTP/1 parsing and smuggling) and 31-35 (upstream faults), one
test each, with raw bytes on real sockets.

After each bad request a canary follows on the same connection (it must get a normal 200, or
the connection must be closed) and on a new one (it must get a 200). The backends' request
logs prove that nothing reached an origin twice or merged with another request, and that the
smuggled request (`/smuggled`) never reached one."""

import itertools
import os
import time

import pytest

from backends import (ClosedError, RawConn, RssSampler, lb_service, refused_url, rss_kib,
                      wait_routed, ws_connect, ws_roundtrip)

SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: app.example\r\n\r\n"
_seq = itertools.count(1)


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    bk = {n: module_backends.http(n) for n in ("main", "a", "b", "upg", "reuse")}
    hole = module_backends.black_hole()
    hang = module_backends.hanging()
    static = {
        "api": {"insecure": True},
        "ping": {},
        "entryPoints": {"web": {"transport": {"respondingTimeouts": {"readTimeout": "2s"}}}},
    }
    routers = {
        "main": ("PathPrefix(`/`)", "main"),
        "a": ("Host(`a.example`)", "a"),
        "b": ("Host(`b.example`)", "b"),
        "upg": ("Host(`upg.example`)", "upg"),
        "reuse": ("Host(`reuse.example`)", "reuse"),
        "refused": ("Host(`refused.example`)", "refused"),
        "hole": ("Host(`hole.example`)", "hole"),
        "hang": ("Host(`hang.example`)", "hang"),
    }
    fast = {"serversTransport": "fast"}
    dynamic = {
        "http": {
            "routers": {n: {"rule": r, "service": s, "entryPoints": ["web"]}
                        for n, (r, s) in routers.items()},
            "services": {
                **{n: lb_service(b.url) for n, b in bk.items()},
                "refused": lb_service(refused_url()),
                "hole": lb_service(hole.url, **fast),
                "hang": lb_service(hang.url, **fast),
            },
            "serversTransports": {
                "fast": {"forwardingTimeouts": {"dialTimeout": "1s",
                                                "responseHeaderTimeout": "1s"}},
            },
        }
    }
    env_vars = dict(os.environ)
    # Keep ASan's quarantine of freed blocks small so that RSS shows wharf's own memory.
    env_vars["ASAN_OPTIONS"] = (env_vars.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16").lstrip(":")
    w = module_wharf.start(static, dynamic=dynamic, env=env_vars)
    for host in ("app.example", "a.example", "b.example", "upg.example", "reuse.example"):
        wait_routed(w, host)
    return w, bk


@pytest.fixture(autouse=True)
def clean_logs(env):
    for b in env[1].values():
        b.clear()
        b.drop_reused = False
    yield
    assert env[0].running(), "wharf exited:\n" + env[0].log_tail()


def port(env):
    return env[0].ports["web"]


def all_requests(env):
    return [r for b in env[1].values() for r in b.log()]


def assert_nothing_smuggled(env):
    reqs = all_requests(env)
    assert not [r for r in reqs if "smuggled" in r.target], reqs
    # A request merged into another's body would show its request line there.
    assert not [r for r in reqs if r.body and b" HTTP/1." in r.body], reqs


def canary_after(env, c, must_close=False):
    """The canary on the same connection (200 or closed) then on a new one (200), each
    reaching the backend exactly once."""
    w, bk = env
    target = f"/canary-{next(_seq)}"
    closed = False
    try:
        c.request("GET", target, host="app.example")
        r = c.read_response()
    except (OSError, ClosedError):
        r = None
    if r is None:
        closed = True
    else:
        assert not must_close, f"connection stayed open after the error: {r}"
        assert r.status == 200 and r.header("X-Echo-Target") == target, r
    c.close()
    target2 = f"/canary-{next(_seq)}"
    with RawConn(port(env)) as c2:
        c2.request("GET", target2, host="app.example")
        r2 = c2.read_response()
    assert r2 is not None and r2.status == 200 and r2.header("X-Echo-Target") == target2, r2
    main = bk["main"]
    assert len(main.with_target(target)) == (0 if closed else 1), main.log()
    assert len(main.with_target(target2)) == 1, main.log()
    assert_nothing_smuggled(env)
    return closed


def bad_request(env, raw, statuses=(400,), allow_close=False, must_close=False, target=None):
    """Sends raw on a new connection; the answer must be one of statuses (or, when
    allow_close, no answer and a closed connection). Then the canaries; returns the
    response."""
    c = RawConn(port(env))
    try:
        c.send(raw)
        r = c.read_response()
    except (ConnectionResetError, BrokenPipeError, ClosedError):
        r = None
    if r is None:
        assert allow_close, f"no response to {raw[:120]!r}"
    else:
        assert r.status in statuses, (raw[:120], r)
    canary_after(env, c, must_close=must_close or (r is not None and r.status in (400, 501)))
    if target:
        done = [q for q in all_requests(env) if q.target == target and q.complete]
        assert not done, f"the bad request reached a backend: {done}"
    return r


def head(target, *lines, method="POST", version="HTTP/1.1", host="app.example"):
    out = f"{method} {target} {version}\r\n".encode()
    if host is not None:
        out += b"Host: " + host.encode() + b"\r\n"
    for ln in lines:
        out += (ln if isinstance(ln, bytes) else ln.encode()) + b"\r\n"
    return out + b"\r\n"


# ---- 1-12: HTTP/1 parsing and smuggling ---------------------------------------------------


def test_01_content_length_with_transfer_encoding(env):
    body = b"0\r\n\r\n" + SMUGGLED
    raw = head("/h1", f"Content-Length: {len(body)}", "Transfer-Encoding: chunked") + body
    c = RawConn(port(env))
    c.send(raw)
    r = c.read_response()
    if r is None or r.status == 400:
        # Rejected: the connection ends.
        canary_after(env, c, must_close=True)
    else:
        # Or forwarded as chunked without the Content-Length, then the connection closed so
        # that the bytes after the chunked body are never a request.
        assert r.status == 200, r
        canary_after(env, c, must_close=True)
    for q in all_requests(env):
        assert not (q.has_header("Content-Length") and q.has_header("Transfer-Encoding")), q.headers


def test_02_conflicting_content_lengths(env):
    for lines in (["Content-Length: 5", "Content-Length: 6"], ["Content-Length: 5, 6"],
                  ["Content-Length: 6", "Content-Length: 5"]):
        raw = head("/h2", *lines) + b"hello!" + SMUGGLED
        bad_request(env, raw, must_close=True, target="/h2")


@pytest.mark.parametrize("te", [
    b"Transfer-Encoding: chunked, chunked",
    b"Transfer-Encoding: chunked, gzip",
    b"Transfer-Encoding: gzip",
    b"Transfer-Encoding: xchunked",
    b"Transfer-Encoding: chunked ",
    b"Transfer-Encoding : chunked",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
])
def test_03_bad_transfer_encoding(env, te):
    raw = head("/h3", te) + b"5\r\nhello\r\n0\r\n\r\n" + SMUGGLED
    # 501 is what RFC 9112 suggests for a coding the server does not implement.
    bad_request(env, raw, statuses=(400, 501), must_close=True, target="/h3")


def test_03_transfer_encoding_on_http10(env):
    raw = head("/h3-10", "Transfer-Encoding: chunked", version="HTTP/1.0") + b"0\r\n\r\n" + SMUGGLED
    bad_request(env, raw, must_close=True, target="/h3-10")


@pytest.mark.parametrize("line", [
    b"X-Folded: a\r\n  b",
    b"X-Nul: a\x00b",
    b"X-N\x00ul: ab",
    b"X-Cr: a\rb",
    b"X-C\rr: ab",
    b"X-Lf: a\nb",
    b"X-Space : ab",
    b"X-Tab\t: ab",
    b": no-name",
])
def test_04_malformed_header_line(env, line):
    raw = head("/h4", line, "Content-Length: 0", method="GET")
    bad_request(env, raw, target="/h4")


@pytest.mark.parametrize("chunks", [
    b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    b"5 \r\nhello\r\n0\r\n\r\n",
    b"5\nhello\r\n0\r\n\r\n",
    b"5\r\nhelloXX0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r",
    b"-5\r\nhello\r\n0\r\n\r\n",
    b"0x5\r\nhello\r\n0\r\n\r\n",
])
def test_05_bad_chunk_framing(env, chunks):
    raw = head("/h5", "Transfer-Encoding: chunked") + chunks + SMUGGLED
    bad_request(env, raw, allow_close=True, must_close=True, target="/h5")


@pytest.mark.parametrize("hosts", [
    [],
    ["app.example", "app.example"],
    ["app.example", "a.example"],
    ["app.example/x"],
    ["app.example\\x"],
    [".."],
    ["app..example"],
    ["app.exa\x01mple"],
    ["app.example\x7f"],
])
def test_06_bad_host(env, hosts):
    raw = head("/h6", *[f"Host: {h}" for h in hosts], method="GET", host=None)
    bad_request(env, raw, target="/h6")
    assert not env[1]["a"].log()


def test_07_absolute_form_routes_by_the_target_authority(env):
    c = RawConn(port(env))
    c.send(b"GET http://a.example/h7 HTTP/1.1\r\nHost: b.example\r\n\r\n")
    r = c.read_response()
    assert r is not None and r.status in (200, 400), r
    if r.status == 200:
        assert r.header("X-Backend") == "a", r
        got = env[1]["a"].log()
        assert len(got) == 1 and got[0].path == "/h7"
        canary_after(env, c)
    else:
        canary_after(env, c, must_close=True)
    assert not env[1]["b"].log(), "routed by the Host header instead of the target"


@pytest.mark.parametrize("target", [
    b"/h8#fragment", b"/h8\x01x", b"/h8\x7fx", b"/h8\xffx", b"/h8\xc3\xa9", b"/h8\tx",
    b"/h8 x",
])
def test_08_bad_bytes_in_the_target(env, target):
    raw = b"GET " + target + b" HTTP/1.1\r\nHost: app.example\r\n\r\n"
    bad_request(env, raw)
    assert not [q for q in all_requests(env) if q.target.startswith("/h8")]


def test_09_too_many_headers(env):
    lines = [f"X-H{i}: v" for i in range(101)]
    bad_request(env, head("/h9", *lines, method="GET"), statuses=(431, 400), target="/h9")


def test_09_header_block_over_the_limit_keeps_memory_flat(env):
    w = env[0]
    before = rss_kib(w.proc.pid)
    sampler = RssSampler(w.proc.pid)
    big = head("/h9big", "X-Big: " + "a" * (2 << 20), method="GET")
    for _ in range(16):
        c = RawConn(port(env))
        try:
            c.send(big)
            r = c.read_response()
        except (OSError, ClosedError):
            r = None
        # 431 or 400; a reset while we still write counts as a refusal too.
        assert r is None or r.status in (431, 400), r
        c.close()
    many = head("/h9many", *[f"X-Many-{i}: {'b' * 200}" for i in range(5000)], method="GET")
    c = RawConn(port(env))
    try:
        c.send(many)
        r = c.read_response()
    except (OSError, ClosedError):
        r = None
    assert r is None or r.status in (431, 400), r
    canary_after(env, c, must_close=True)
    sampler.stop()
    assert sampler.max - before < 16 * 1024, f"RSS grew {(sampler.max - before) // 1024} MiB"
    assert not [q for q in all_requests(env) if q.target.startswith("/h9")]


def test_10_declared_body_never_sent_times_out(env):
    c = RawConn(port(env), timeout=30)
    t0 = time.monotonic()
    c.send(head("/h10", "Content-Length: 10", method="GET"))
    try:
        r = c.read_response()
    except ClosedError:
        r = None
    elapsed = time.monotonic() - t0
    assert r is not None and r.status in (408, 400), r
    # readTimeout is 2s: answered at the deadline, not at once and not much later.
    assert 1.0 <= elapsed <= 12.0, elapsed
    canary_after(env, c, must_close=True)
    assert not [q for q in all_requests(env) if q.target == "/h10" and q.complete]


def test_11_h2c_upgrade_is_not_forwarded(env):
    c = RawConn(port(env))
    c.request("GET", "/h11", headers=[("Connection", "Upgrade, HTTP2-Settings"),
                                      ("Upgrade", "h2c"),
                                      ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
    r = c.read_response(skip_interim=False)
    assert r is not None and r.status == 200, r
    canary_after(env, c)
    (req,) = env[1]["main"].with_target("/h11")
    assert not req.has_header("Upgrade") and not req.has_header("HTTP2-Settings"), req.headers


def test_11_websocket_upgrade_is_tunnelled(env):
    c, r = ws_connect(port(env), "/ws")
    assert r is not None and r.status == 101, r
    assert ws_roundtrip(c, b"through the tunnel") == (1, b"through the tunnel")
    c.close()
    (req,) = env[1]["main"].with_target("/ws")
    assert req.header("Upgrade", "").lower() == "websocket"
    assert req.header("X-Forwarded-Proto") == "ws"


def test_11_connect_is_refused(env):
    raw = b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"
    bad_request(env, raw, statuses=(405,), allow_close=False)
    assert not [q for q in all_requests(env) if q.method == "CONNECT" or "443" in q.target]


def test_12_pipelined_requests_are_answered_in_order(env):
    c = RawConn(port(env))
    targets = [f"/h12-{i}" for i in range(5)]
    c.send(b"".join(head(t, method="GET") for t in targets[:2])
           + head(targets[2], "Content-Length: 5") + b"hello"
           + b"".join(head(t, method="GET") for t in targets[3:]))
    for t in targets:
        r = c.read_response()
        assert r is not None and r.status == 200 and r.header("X-Echo-Target") == t, (t, r)
    canary_after(env, c)
    for t in targets:
        assert len(env[1]["main"].with_target(t)) == 1


def test_12_pipeline_after_a_parse_error_is_discarded(env):
    c = RawConn(port(env))
    c.send(head("/h12-ok", method="GET") + b"GET /h12\x01bad HTTP/1.1\r\nHost: app.example\r\n\r\n"
           + head("/h12-after", method="GET") + SMUGGLED)
    r = c.read_response()
    assert r is not None and r.status == 200 and r.header("X-Echo-Target") == "/h12-ok", r
    r = c.read_response()
    assert r is not None and r.status == 400, r
    assert c.closed_by_peer(5)
    canary_after(env, c, must_close=True)
    assert not env[1]["main"].with_target("/h12-after")
    assert not [q for q in all_requests(env) if "bad" in q.target]


# ---- 31-35: upstream faults ---------------------------------------------------------------


def timed_get(env, host, target="/"):
    c = RawConn(port(env), timeout=30)
    t0 = time.monotonic()
    c.request("GET", target, host=host)
    r = c.read_response()
    return c, r, time.monotonic() - t0


def test_31_connection_refused_is_502(env):
    c, r, _ = timed_get(env, "refused.example")
    assert r is not None and r.status == 502 and r.body == b"Bad Gateway", r
    canary_after(env, c)


def test_31_connect_that_hangs_is_504_at_the_dial_timeout(env):
    c, r, elapsed = timed_get(env, "hang.example")
    assert r is not None and r.status == 504 and r.body == b"Gateway Timeout", r
    assert 0.7 <= elapsed <= 8.0, elapsed
    canary_after(env, c)


def test_31_no_response_headers_is_504_at_the_response_header_timeout(env):
    c, r, elapsed = timed_get(env, "hole.example")
    assert r is not None and r.status == 504 and r.body == b"Gateway Timeout", r
    assert 0.7 <= elapsed <= 8.0, elapsed
    canary_after(env, c)


@pytest.mark.parametrize("target", ["/close-mid-body", "/close-mid-body?chunked=1"])
def test_32_upstream_reset_mid_body_aborts_the_client(env, target):
    c = RawConn(port(env))
    c.request("GET", target)
    with pytest.raises(ClosedError):
        # Headers (200) arrive, then the connection ends before the body does: never a
        # clean end of message.
        r = c.read_response()
        pytest.fail(f"clean end of a truncated body: {r!r}")
    c.close()
    canary_after(env, RawConn(port(env)))
    (req,) = env[1]["main"].with_target(target)
    # The broken connection was not pooled: the canaries came on new backend connections.
    later = [q for q in env[1]["main"].log() if q.target.startswith("/canary-")]
    assert later and all(q.conn_id != req.conn_id for q in later)


@pytest.mark.parametrize("kind", ["obsfold", "te", "dupcl", "bighdr"])
def test_33_bad_upstream_framing_is_502(env, kind):
    c = RawConn(port(env))
    c.request("GET", f"/bad/{kind}")
    r = c.read_response()
    assert r is not None and r.status == 502, r
    assert r.header("X-Backend") is None, "the broken response head was forwarded"
    canary_after(env, c)


@pytest.mark.parametrize("with_body", [False, True])
def test_34_refused_upgrade_connection_is_not_pooled(env, with_body):
    upg = env[1]["upg"]
    c = RawConn(port(env))
    # Warm the pool with one ordinary request so that a pooled connection exists.
    c.request("GET", "/warm", host="upg.example")
    assert c.read_response().status == 200
    body = SMUGGLED if with_body else b""
    extra = [("Content-Length", str(len(body)))] if with_body else []
    c.request("GET", "/upgrade-refuse", host="upg.example",
              headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                       ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                       ("Sec-WebSocket-Version", "13"), *extra], body=None)
    c.send(body)
    try:
        r = c.read_response(skip_interim=False)
    except ClosedError:
        r = None
    assert r is None or r.status != 101, r
    refused = upg.with_target("/upgrade-refuse")
    # Follow-up requests, on this connection when it is still open and on new ones (which
    # spread over the workers): none may use the connection that carried the refusal.
    followups = []
    try:
        c.request("GET", "/after-0", host="upg.example")
        r2 = c.read_response()
        if r2 is not None:
            assert r2.status == 200, r2
            followups.append("/after-0")
    except (OSError, ClosedError):
        pass
    c.close()
    for i in range(1, 9):
        with RawConn(port(env)) as c2:
            c2.request("GET", f"/after-{i}", host="upg.example")
            r2 = c2.read_response()
            assert r2 is not None and r2.status == 200, r2
            followups.append(f"/after-{i}")
    assert not upg.with_target("smuggled"), upg.log()
    bad_conns = {q.conn_id for q in refused}
    for t in followups:
        (q,) = upg.with_target(t)
        assert q.conn_id not in bad_conns, f"{t} went over the connection of the refused upgrade"


def test_35_pooled_connection_closed_by_upstream_retries_get_not_post(env):
    reuse = env[1]["reuse"]
    c = RawConn(port(env))
    c.request("GET", "/r1", host="reuse.example")
    r = c.read_response()
    assert r.status == 200, r
    reuse.drop_reused = True
    # The next request goes over the pooled connection, which the origin drops: a GET is
    # retried on a new connection and the client never notices.
    c.request("GET", "/r2", host="reuse.example")
    r = c.read_response()
    assert r is not None and r.status == 200 and r.header("X-Echo-Target") == "/r2", r
    r2 = reuse.with_target("/r2")
    assert [q.dropped for q in r2] == [True, False], r2
    assert r2[0].conn_id != r2[1].conn_id
    # A POST over a pooled connection that drops is not replayed: 502.
    c.request("POST", "/r3", host="reuse.example", body=b"pay once")
    r = c.read_response()
    assert r is not None and r.status == 502, r
    time.sleep(0.3)  # a (wrong) replay would arrive now
    r3 = reuse.with_target("/r3")
    assert len(r3) == 1 and r3[0].dropped, r3
    canary_after(env, c)
