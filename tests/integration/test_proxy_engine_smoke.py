"""Quick end-to-end checks of the proxy engine against small backends in this file: keep-alive
forwarding with body echo, chunked request bodies, the error statuses (404/502/503/504) and a
WebSocket-style upgrade tunnel."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _answer(self):
        body = self._body()
        if self.path.startswith("/slow"):
            time.sleep(3)
        out = b"%s %s|" % (self.command.encode(), self.path.encode()) + body
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.send_header("X-Seen-Host", self.headers.get("Host", ""))
        self.send_header("X-Seen-Xff", self.headers.get("X-Forwarded-For", ""))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = _answer


@pytest.fixture(scope="module")
def backend():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def ws_backend(stop):
    """Answers 101 to the first request on each connection, then echoes bytes."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    ls.settimeout(0.2)

    def serve(c):
        with c:
            buf = b""
            while b"\r\n\r\n" not in buf:
                d = c.recv(4096)
                if not d:
                    return
                buf += d
            c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      b"Connection: Upgrade\r\n\r\n")
            rest = buf.split(b"\r\n\r\n", 1)[1]
            if rest:
                c.sendall(rest)
            while True:
                d = c.recv(4096)
                if not d:
                    return
                c.sendall(d)

    def loop():
        while not stop.is_set():
            try:
                c, _ = ls.accept()
            except socket.timeout:
                continue
            threading.Thread(target=serve, args=(c,), daemon=True).start()
        ls.close()

    threading.Thread(target=loop, daemon=True).start()
    return ls.getsockname()[1]


@pytest.fixture(scope="module")
def ws_port():
    stop = threading.Event()
    yield ws_backend(stop)
    stop.set()


@pytest.fixture(scope="module")
def w(module_wharf, backend, ws_port):
    dead = free_port()  # nothing listens there
    static = {"entryPoints": {"web": {}}, "wharf": {"workers": 2}}
    dynamic = {
        "http": {
            "routers": {
                "echo": {"rule": "Host(`echo.example`)", "service": "echo", "entryPoints": ["web"]},
                "dead": {"rule": "Host(`dead.example`)", "service": "dead", "entryPoints": ["web"]},
                "none": {"rule": "Host(`none.example`)", "service": "none", "entryPoints": ["web"]},
                "slow": {"rule": "Host(`slow.example`)", "service": "slow", "entryPoints": ["web"]},
                "ws": {"rule": "Host(`ws.example`)", "service": "ws", "entryPoints": ["web"]},
            },
            "services": {
                "echo": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{backend}"}]}},
                "dead": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{dead}"}]}},
                "none": {"loadBalancer": {"servers": [
                    {"url": f"http://127.0.0.1:{backend}", "weight": 0}]}},
                "slow": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{backend}"}],
                                          "serversTransport": "quick"}},
                "ws": {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{ws_port}"}]}},
            },
            "serversTransports": {
                "quick": {"forwardingTimeouts": {"responseHeaderTimeout": "1s"}}
            },
        }
    }
    proc = module_wharf.start(static, dynamic=dynamic, ready=False)
    port = proc.ports["web"]
    deadline = time.monotonic() + 20
    while True:  # ready once the file provider's routers answer
        try:
            if proc.http.get(f"http://127.0.0.1:{port}/", headers={"Host": "echo.example"},
                             timeout=1).status_code == 200:
                return proc
        except Exception:
            pass
        assert proc.running() and time.monotonic() < deadline, proc.log_tail()
        time.sleep(0.1)


def url(w, path="/"):
    return f"http://127.0.0.1:{w.ports['web']}{path}"


def test_get_and_post_keep_alive_with_body_echo(w):
    s = w.http
    r = s.get(url(w, "/a?x=1;y=2"), headers={"Host": "echo.example"})
    assert r.status_code == 200 and r.content == b"GET /a?x=1;y=2|"
    assert r.headers["X-Seen-Host"] == "echo.example"
    assert r.headers["X-Seen-Xff"] == "127.0.0.1"
    r = s.post(url(w, "/p"), data=b"x" * 100000, headers={"Host": "echo.example"})
    assert r.status_code == 200 and r.content == b"POST /p|" + b"x" * 100000


def test_chunked_request_body(w):
    def gen():
        yield b"hello "
        yield b"world"

    r = w.http.post(url(w, "/c"), data=gen(), headers={"Host": "echo.example"})
    assert r.status_code == 200 and r.content == b"POST /c|hello world"


def test_raw_pipelined_requests_answered_in_order(w):
    req = b"GET /%d HTTP/1.1\r\nHost: echo.example\r\n\r\n"
    with socket.create_connection(("127.0.0.1", w.ports["web"]), timeout=5) as c:
        c.sendall(req % 1 + req % 2 + b"GET /3 HTTP/1.1\r\nHost: echo.example\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            d = c.recv(65536)
            if not d:
                break
            data += d
    assert data.index(b"GET /1|") < data.index(b"GET /2|") < data.index(b"GET /3|")


def test_error_statuses(w):
    r = w.http.get(url(w), headers={"Host": "nothing.example"})
    assert r.status_code == 404 and r.text == "404 page not found\n"
    r = w.http.get(url(w), headers={"Host": "dead.example"})
    assert r.status_code == 502 and r.text == "Bad Gateway"
    r = w.http.get(url(w), headers={"Host": "none.example"})
    assert r.status_code == 503 and r.text == "no available server\n"
    t0 = time.monotonic()
    r = w.http.get(url(w, "/slow"), headers={"Host": "slow.example"})
    assert r.status_code == 504 and r.text == "Gateway Timeout"
    assert time.monotonic() - t0 < 2.9


def test_websocket_upgrade_tunnel(w):
    with socket.create_connection(("127.0.0.1", w.ports["web"]), timeout=5) as c:
        c.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.example\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += c.recv(4096)
        assert head.startswith(b"HTTP/1.1 101"), head
        assert b"upgrade: websocket" in head.lower()
        for msg in (b"ping", b"x" * 200000):
            c.sendall(msg)
            got = b""
            while len(got) < len(msg):
                got += c.recv(65536)
            assert got == msg
