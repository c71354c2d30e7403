"""Bodies through the proxy: 1 GiB each way generated on the fly and checked by byte count and
running CRC, with wharf's memory bounded (DESIGN "Streaming", HARDENING 29); chunked request
bodies with trailers; Expect: 100-continue; bodiless responses (HEAD, 204, 304) framed right
on a keep-alive connection; server-sent events flushed as they come."""

import os
import time
import zlib

import pytest

from backends import (RawConn, RssSampler, lb_service, pattern_chunks, pattern_crc, wait_routed)

GIB = 1 << 30
RSS_BUDGET_KIB = 32 * 1024


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    b = module_backends.http("origin")
    env_vars = dict(os.environ)
    # ASan keeps freed blocks in a quarantine (256 MiB by default), which would show as RSS
    # growth that is not wharf's; a small one keeps the measurement about wharf.
    env_vars["ASAN_OPTIONS"] = (env_vars.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8").lstrip(":")
    w = module_wharf.start(
        {"api": {"insecure": True}, "ping": {}, "entryPoints": {"web": {}}},
        dynamic={"http": {"routers": {"all": {"rule": "PathPrefix(`/`)", "service": "origin",
                                              "entryPoints": ["web"]}},
                          "services": {"origin": lb_service(b.url)}}},
        env=env_vars)
    wait_routed(w, "app.example")
    return w, b


def warm(w):
    """One request each way so that pools and buffers exist before RSS is measured."""
    with RawConn(w.ports["web"]) as c:
        c.request("POST", "/sink", body=b"x" * (1 << 20))
        assert c.read_response().status == 200
        c.request("GET", f"/stream/{1 << 20}")
        assert c.read_response().status == 200


def read_body_crc(c, n, pause_at=None, pause=0.0):
    """Reads exactly the n body bytes that follow a response head on c, without keeping
    them; pauses once after pause_at bytes (backpressure). Returns (count, crc32)."""
    crc, got = 0, 0
    if c.rd.buf:
        d = bytes(c.rd.buf[:n])
        del c.rd.buf[: len(d)]
        crc, got = zlib.crc32(d), len(d)
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    c.sock.settimeout(30)
    paused = False
    while got < n:
        if pause_at is not None and not paused and got >= pause_at:
            time.sleep(pause)
            paused = True
        k = c.sock.recv_into(mv, min(n - got, len(buf)))
        if not k:
            break
        crc = zlib.crc32(mv[:k], crc)
        got += k
    return got, crc


def test_one_gib_upload_streams_with_bounded_memory(env):
    w, b = env
    warm(w)
    b.clear()
    expected = pattern_crc(GIB)
    sampler = RssSampler(w.proc.pid)
    with RawConn(w.ports["web"], timeout=60) as c:
        # The origin stops reading for 1 s after 256 MiB: wharf must stop reading the client
        # too instead of buffering what keeps coming.
        c.send(f"POST /sink?pause_at={256 << 20}&pause=1 HTTP/1.1\r\nHost: app.example\r\n"
               f"Content-Type: application/octet-stream\r\nContent-Length: {GIB}\r\n\r\n".encode())
        for chunk in pattern_chunks(GIB):
            c.sock.sendall(chunk)
        r = c.read_response()
    sampler.stop()
    assert r is not None and r.status == 200, r
    assert r.json() == {"len": GIB, "crc32": expected}
    (req,) = b.with_target("/sink")
    assert req.body_len == GIB and req.body_crc == expected
    growth = sampler.max - sampler.before
    assert growth < RSS_BUDGET_KIB, f"wharf RSS grew {growth // 1024} MiB during a 1 GiB upload"
    assert sampler.after - sampler.before < RSS_BUDGET_KIB


def test_one_gib_download_streams_with_bounded_memory(env):
    w, b = env
    warm(w)
    expected = pattern_crc(GIB)
    sampler = RssSampler(w.proc.pid)
    with RawConn(w.ports["web"], timeout=60) as c:
        c.request("GET", f"/stream/{GIB}")
        r = c.read_response(head=True)  # the head only; the body is read below
        assert r is not None and r.status == 200, r
        assert r.header("Content-Length") == str(GIB), r.headers
        # The client stops reading for 1 s after 256 MiB: backpressure to the origin.
        got, crc = read_body_crc(c, GIB, pause_at=256 << 20, pause=1.0)
        assert got == GIB, f"got {got} of {GIB} bytes"
        assert crc == expected
        # The connection is still usable: the body ended exactly on its boundary.
        c.request("GET", "/after-download")
        r2 = c.read_response()
        assert r2 is not None and r2.status == 200 and r2.header("X-Echo-Target") == "/after-download"
    sampler.stop()
    growth = sampler.max - sampler.before
    assert growth < RSS_BUDGET_KIB, f"wharf RSS grew {growth // 1024} MiB during a 1 GiB download"


def test_chunked_download_is_forwarded_intact(env):
    w, _ = env
    n = 5 * 1000 * 1000 + 17
    with RawConn(w.ports["web"]) as c:
        c.request("GET", f"/stream/{n}?te=chunked&chunk=70001")
        r = c.read_response()
        assert r is not None and r.status == 200
        assert len(r.body) == n and zlib.crc32(r.body) == pattern_crc(n)
        c.request("GET", "/next")
        assert c.read_response().header("X-Echo-Target") == "/next"


def test_chunked_request_body_with_trailers_is_forwarded_intact(env):
    w, b = env
    b.clear()
    pieces = [b"a", b"hello world\r\n", os.urandom(70000), b"\x00" * 3, os.urandom(512 << 10)]
    body = b"".join(pieces)
    crc = zlib.crc32(body)
    raw = (b"POST /echo-chunked HTTP/1.1\r\nHost: app.example\r\nTransfer-Encoding: chunked\r\n"
           b"Trailer: X-Checksum\r\n\r\n")
    for p in pieces:
        raw += b"%x\r\n" % len(p) + p + b"\r\n"
    raw += b"0\r\nX-Checksum: " + str(crc).encode() + b"\r\n\r\n"
    with RawConn(w.ports["web"]) as c:
        c.send(raw)
        r = c.read_response()
        assert r is not None and r.status == 200, r
        c.request("GET", "/after-chunked")
        assert c.read_response().header("X-Echo-Target") == "/after-chunked"
    (req,) = b.with_target("/echo-chunked")
    assert req.complete and req.body_len == len(body) and req.body_crc == crc
    assert req.body == body
    assert ("X-Checksum", str(crc)) in [(k.title(), v) for k, v in req.trailers], req.trailers
    # Streamed on, not re-framed with a Content-Length after buffering the whole body.
    assert "chunked" in (req.header("Transfer-Encoding") or "").lower(), req.headers
    assert req.header("Content-Length") is None


def test_expect_100_continue(env):
    w, b = env
    b.clear()
    body = b"sent after the 100"
    with RawConn(w.ports["web"]) as c:
        c.send(b"PUT /expect HTTP/1.1\r\nHost: app.example\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
        r = c.read_response(skip_interim=False)
        # The body is withheld until the interim answer comes.
        assert r is not None and r.status == 100, r
        c.send(body)
        r = c.read_response()
        assert r is not None and r.status == 200, r
        assert r.json()["body"].encode("latin-1") == body
        c.request("GET", "/after-expect")
        assert c.read_response().header("X-Echo-Target") == "/after-expect"
    (req,) = b.with_target("/expect")
    assert req.body == body


def test_bodiless_responses_keep_the_connection_in_step(env):
    """HEAD, 204 and 304 carry no body whatever their headers say; the next response on the
    same connection must parse from the right byte."""
    w, _ = env
    steps = [
        ("HEAD", "/stream/5000", 200, {"Content-Length": "5000"}),
        ("GET", "/status/204", 204, {}),
        ("HEAD", "/stream/5000?te=chunked", 200, {}),
        ("GET", "/status/304", 304, {"ETag": '"x"'}),
        ("HEAD", "/echo", 200, {}),
        ("HEAD", "/status/404", 404, {}),
    ]
    with RawConn(w.ports["web"]) as c:
        for i, (method, target, status, hdrs) in enumerate(steps):
            c.request(method, target)
            r = c.read_response(head=(method == "HEAD"))
            assert r is not None and r.status == status, (target, r)
            assert r.body == b""
            for k, v in hdrs.items():
                assert r.header(k) == v, (target, r.headers)
            c.request("GET", f"/follow-{i}")
            r = c.read_response()
            assert r is not None and r.status == 200 and r.header("X-Echo-Target") == f"/follow-{i}", (target, r)
        # Nothing stray is left on the connection.
        assert not c.closed_by_peer(0.3) and not c.rd.buf


def test_bodiless_responses_pipelined(env):
    w, _ = env
    with RawConn(w.ports["web"]) as c:
        c.send(b"HEAD /stream/100 HTTP/1.1\r\nHost: app.example\r\n\r\n"
               b"GET /status/204 HTTP/1.1\r\nHost: app.example\r\n\r\n"
               b"GET /status/304 HTTP/1.1\r\nHost: app.example\r\n\r\n"
               b"GET /last HTTP/1.1\r\nHost: app.example\r\n\r\n")
        assert c.read_response(head=True).status == 200
        assert c.read_response().status == 204
        assert c.read_response().status == 304
        r = c.read_response()
        assert r.status == 200 and r.header("X-Echo-Target") == "/last"


def test_server_sent_events_are_flushed_as_they_come(env):
    w, _ = env
    with RawConn(w.ports["web"], timeout=10) as c:
        t0 = time.monotonic()
        c.request("GET", "/sse?n=5&interval=0.4")
        r = c.read_response(head=True)
        assert r is not None and r.status == 200
        assert r.header("Content-Type") == "text/event-stream"
        # The first event arrives long before the stream (2 s) ends.
        first = b""
        while b"\n\n" not in first:
            first += c.rd.some(4096)
        assert time.monotonic() - t0 < 1.2, "events are buffered, not streamed"
        assert b"data: event 0" in first


def _close_delimited_backend(body):
    """A backend answering every request with an HTTP/1.0 response without Content-Length,
    whose body ends when the backend closes the connection."""
    import socket
    import threading

    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)

    def serve():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\r\n\r\n" not in data:
                    d = c.recv(4096)
                    if not d:
                        break
                    data += d
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)
                c.shutdown(socket.SHUT_WR)

    threading.Thread(target=serve, daemon=True).start()
    return ls


def test_close_delimited_body_ends_cleanly(wharf):
    """A body delimited by the backend closing is relayed whole and properly ended (the last
    chunk to an HTTP/1.1 client), and the client's connection stays usable."""
    body = b"x" * 5000 + b"\nend\n"
    ls = _close_delimited_backend(body)
    try:
        url = f"http://127.0.0.1:{ls.getsockname()[1]}"
        w = wharf.start({"entryPoints": {"web": {}}},
                        dynamic={"http": {"routers": {"r": {"rule": "PathPrefix(`/`)",
                                                            "service": "s",
                                                            "entryPoints": ["web"]}},
                                          "services": {"s": lb_service(url)}}})
        wait_routed(w, "app.example", path="/")
        with RawConn(w.ports["web"]) as c:
            for _ in range(2):
                c.request("GET", "/")
                r = c.read_response()
                assert r is not None and r.status == 200
                assert r.body == body
    finally:
        ls.close()
