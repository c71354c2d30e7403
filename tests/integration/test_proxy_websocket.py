"""WebSocket through the proxy (HARDENING 11, 30): the upgrade is forwarded and the tunnel
echoes frames both ways; a tunnel idle longer than the entry point's idleTimeout (2 s here)
is closed, one with traffic every 0.5 s stays open."""

import time

import pytest

from backends import (lb_service, wait_routed, wait_until, ws_connect, ws_read_frame, ws_roundtrip,
                      ws_send_frame)

IDLE = 2.0


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    b = module_backends.http("ws-origin")
    static = {
        "api": {"insecure": True},
        "ping": {},
        "entryPoints": {"web": {"transport": {"respondingTimeouts": {"idleTimeout": "2s"}}}},
    }
    dynamic = {"http": {"routers": {"ws": {"rule": "Host(`ws.example`)", "service": "ws",
                                           "entryPoints": ["web"]}},
                        "services": {"ws": lb_service(b.url)}}}
    w = module_wharf.start(static, dynamic=dynamic)
    wait_routed(w, "ws.example")
    return w, b


def open_ws(env):
    w, _ = env
    c, r = ws_connect(w.ports["web"], "/ws", host="ws.example")
    assert r is not None and r.status == 101, r
    assert r.header("Upgrade", "").lower() == "websocket"
    assert r.header("X-Backend") == "ws-origin"
    return c


def test_websocket_echo_through_the_proxy(env):
    w, b = env
    b.clear()
    c = open_ws(env)
    try:
        for i in range(20):
            msg = f"message {i} ".encode() * (i + 1)
            assert ws_roundtrip(c, msg) == (0x1, msg)
        big = bytes(range(256)) * 400  # 100 KiB binary, 64-bit length form
        assert ws_roundtrip(c, big, opcode=0x2) == (0x2, big)
        assert ws_roundtrip(c, b"ping!", opcode=0x9) == (0xA, b"ping!")
        # Several frames in one write come back in order.
        c.send(b"".join(_masked(0x1, f"burst {i}".encode()) for i in range(5)))
        for i in range(5):
            assert ws_read_frame(c.rd) == (0x1, f"burst {i}".encode())
        ws_send_frame(c.sock, 0x8, b"\x03\xe8")
        assert ws_read_frame(c.rd) == (0x8, b"\x03\xe8")
        assert c.closed_by_peer(5)
    finally:
        c.close()
    (req,) = b.with_target("/ws")
    assert req.header("Upgrade").lower() == "websocket"
    assert "upgrade" in req.header("Connection", "").lower()
    assert req.header("Sec-WebSocket-Version") == "13"
    assert req.header("X-Forwarded-Proto") == "ws"
    assert req.header("X-Forwarded-For") == "127.0.0.1"


def _masked(opcode, payload):
    class _Buf:
        def __init__(self):
            self.data = b""

        def sendall(self, d):
            self.data += d

    buf = _Buf()
    ws_send_frame(buf, opcode, payload, mask=True)
    return buf.data


def test_idle_tunnel_is_closed_after_the_idle_timeout(env):
    w, b = env
    b.clear()
    c = open_ws(env)
    try:
        assert ws_roundtrip(c, b"then silence") == (0x1, b"then silence")
        t0 = time.monotonic()
        deadline = t0 + IDLE + 8
        closed = False
        while not closed and time.monotonic() < deadline:
            closed = c.closed_by_peer(timeout=max(0.01, deadline - time.monotonic()))
            if not closed and c.rd.buf:
                # A close frame before the TCP close is fine; anything else is not.
                assert ws_read_frame(c.rd)[0] == 0x8
        elapsed = time.monotonic() - t0
        assert closed, "an idle tunnel stayed open well past the idle timeout"
        assert IDLE * 0.75 <= elapsed <= IDLE + 6, elapsed
    finally:
        c.close()
    # The backend side of the tunnel is closed too.
    (req,) = b.with_target("/ws")
    assert wait_until(lambda: not b.is_open(req.conn_id), 10)
    assert w.running()


def test_active_tunnel_outlives_the_idle_timeout(env):
    c = open_ws(env)
    try:
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 2 * IDLE:
            msg = f"tick {i}".encode()
            assert ws_roundtrip(c, msg) == (0x1, msg), f"tunnel closed after {time.monotonic() - t0:.1f}s"
            i += 1
            time.sleep(0.5)
        assert i >= 6
        assert ws_roundtrip(c, b"still here") == (0x1, b"still here")
    finally:
        c.close()


def test_websocket_and_plain_requests_side_by_side(env):
    w, _ = env
    c = open_ws(env)
    try:
        for i in range(5):
            r = w.http.get(w.url(f"/plain-{i}", "web"), headers={"Host": "ws.example"}, timeout=5)
            assert r.status_code == 200 and r.headers["X-Echo-Target"] == f"/plain-{i}"
            assert ws_roundtrip(c, f"ws {i}".encode()) == (0x1, f"ws {i}".encode())
    finally:
        c.close()
