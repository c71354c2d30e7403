"""Test backends and raw clients for the data-plane integration tests.

Everything here is standard library and listens on 127.0.0.1 only.

- `Backend`: a threaded HTTP/1.1 origin with keep-alive that records every request it reads
  (method, target, headers as sent, body, trailers, connection id) and identifies itself in
  `X-Backend` and `X-Conn-Id` on every answer. Its routes:
    /echo (and any path not listed)  200, JSON of what it received
    /status/N                        status N (no body for 1xx/204/304, nor for HEAD)
    /slow-head/S                     sleeps S seconds, then answers like /echo
    /stream/N[?te=chunked][&chunk=B] N bytes of `pattern`, Content-Length or chunked
    /sink[?pause_at=N&pause=S]       reads the body (pausing S seconds after N bytes),
                                     answers {"len", "crc32"}; any body is streamed this way
    /sse[?n=K&interval=S]            K server-sent events, S seconds apart, chunked
    /health                          200 when `healthy`, else 503
    /close-mid-body[?chunked=1]      headers, part of a body, a pause, then RST (or, chunked,
                                     an unterminated chunked body and a close)
    /bad/obsfold|te|dupcl|bighdr     a response with broken framing, then close
    /drop                            reads the request, closes without answering
    /ws                              WebSocket handshake (Sec-WebSocket-Accept), then echo
    /upgrade-refuse                  answers an Upgrade with 400 + keep-alive without reading
                                     the request body (the bytes left are parsed as the next
                                     request: a smuggling probe)
  `drop_reused = True` makes the backend read and drop (close without answer) every request
  that is not the first on its connection: a pooled connection the origin has closed.
- `BlackHole`: accepts connections and never reads or answers.
- `HangingListener`: a listener whose accept queue is full, so that connecting hangs.
- Clients: `RawConn` (raw bytes, response reader that knows HEAD/204/304 framing),
  `ws_*` frame helpers, `pattern_chunks`/`pattern_crc` for streamed transfers.
"""

import base64
import hashlib
import json
import os
import random
import select
import socket
import struct
import threading
import time
import zlib
from urllib.parse import parse_qs, urlsplit

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85"
MAX_STORED_BODY = 1 << 20

# A pseudo-random block whose length is prime, so that a byte dropped, repeated or moved by a
# power-of-two sized buffer shows in the running hash.
_PATTERN_LEN = 1048573
_PATTERN = random.Random(20240601).randbytes(_PATTERN_LEN)
_PATTERN2 = memoryview(_PATTERN + _PATTERN)


def pattern_chunks(n, chunk=1 << 20):
    """Yields memoryviews covering bytes [0, n) of the endless pattern, never holding more
    than one block."""
    chunk = min(chunk, _PATTERN_LEN)
    pos = 0
    while pos < n:
        size = min(chunk, n - pos)
        off = pos % _PATTERN_LEN
        yield _PATTERN2[off : off + size]
        pos += size


def pattern_crc(n):
    crc = 0
    for c in pattern_chunks(n):
        crc = zlib.crc32(c, crc)
    return crc


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()


class ClosedError(Exception):
    pass


class _Reader:
    """Buffered reads from a socket, with line and size caps."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        data = self.sock.recv(1 << 20)
        if not data:
            raise ClosedError()
        self.buf += data

    def line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                out = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return out
            if len(self.buf) > limit:
                raise ValueError("line too long")
            self.fill()

    def exact(self, n):
        while len(self.buf) < n:
            self.fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def some(self, maxn):
        """Up to maxn bytes, at least one."""
        if not self.buf:
            self.fill()
        out = bytes(self.buf[:maxn])
        del self.buf[:maxn]
        return out


def _parse_head(reader, first_line_optional=False):
    """Reads a start line and header fields; returns (start_line, [(name, value)]).
    Header lines are kept as sent (names not folded) so tests can see exactly what came."""
    start = reader.line()
    while first_line_optional and start in (b"\r\n", b"\n"):
        start = reader.line()
    headers = []
    while True:
        ln = reader.line()
        if ln in (b"\r\n", b"\n"):
            break
        ln = ln.rstrip(b"\r\n")
        if b":" not in ln:
            raise ValueError(f"bad header line {ln!r}")
        name, _, value = ln.partition(b":")
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return start.rstrip(b"\r\n").decode("latin-1"), headers


def _hget(headers, name, default=None):
    name = name.lower()
    for k, v in headers:
        if k.lower() == name:
            return v
    return default


def _hall(headers, name):
    name = name.lower()
    return [v for k, v in headers if k.lower() == name]


class Request:
    """One request as the backend read it."""

    def __init__(self, backend, conn_id, seq, method, target, version, headers):
        self.backend = backend
        self.conn_id = conn_id
        self.seq = seq  # 1 for the first request on its connection
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = b""  # kept up to MAX_STORED_BODY, else None
        self.body_len = 0
        self.body_crc = 0
        self.trailers = []
        self.complete = False  # the whole body was read
        self.dropped = False  # read, then the connection was closed without an answer
        self.time = time.monotonic()

    @property
    def path(self):
        return urlsplit(self.target).path

    @property
    def query(self):
        return parse_qs(urlsplit(self.target).query, keep_blank_values=True)

    def header(self, name, default=None):
        return _hget(self.headers, name, default)

    def header_all(self, name):
        return _hall(self.headers, name)

    def has_header(self, name):
        return any(k.lower() == name.lower() for k, _ in self.headers)

    def add_body(self, data):
        self.body_len += len(data)
        self.body_crc = zlib.crc32(data, self.body_crc)
        if self.body is not None:
            if len(self.body) + len(data) <= MAX_STORED_BODY:
                self.body += data
            else:
                self.body = None

    def as_json(self):
        return {
            "backend": self.backend,
            "conn": self.conn_id,
            "seq": self.seq,
            "method": self.method,
            "target": self.target,
            "version": self.version,
            "headers": [[k, v] for k, v in self.headers],
            "body": self.body.decode("latin-1") if self.body is not None else None,
            "body_len": self.body_len,
            "crc32": self.body_crc,
            "trailers": [[k, v] for k, v in self.trailers],
        }

    def __repr__(self):
        return f"<{self.backend}#{self.conn_id}.{self.seq} {self.method} {self.target}>"


class _Server:
    """A listening socket on 127.0.0.1 with one thread per connection."""

    def __init__(self, port=0, backlog=128):
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(backlog)
        self.port = self.lsock.getsockname()[1]
        self.stopping = False
        self.lock = threading.Lock()
        self.conns = {}  # id -> socket
        self.next_id = 0
        self.accepted = 0
        self.threads = []
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.accept_thread = t

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept_loop(self):
        while not self.stopping:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            if self.stopping:
                s.close()
                return
            with self.lock:
                self.next_id += 1
                cid = self.next_id
                self.accepted += 1
                self.conns[cid] = s
            t = threading.Thread(target=self._run, args=(s, cid), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, s, cid):
        try:
            self.handle(s, cid)
        except (OSError, ClosedError, ValueError):
            pass
        finally:
            with self.lock:
                self.conns.pop(cid, None)
            try:
                s.close()
            except OSError:
                pass

    def handle(self, s, cid):
        raise NotImplementedError

    def open_connections(self):
        with self.lock:
            return len(self.conns)

    def is_open(self, conn_id):
        with self.lock:
            return conn_id in self.conns

    def stop(self):
        self.stopping = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            conns = list(self.conns.values())
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.accept_thread.join(2)
        for t in self.threads:
            t.join(2)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Backend(_Server):
    """The recording HTTP/1.1 origin described in the module docstring."""

    def __init__(self, name, port=0):
        self.name = name
        self.healthy = True
        self.drop_reused = False
        self.requests = []
        self.health_probes = 0
        super().__init__(port)

    # ---- assertions helpers -------------------------------------------------------------

    def log(self, include_health=False):
        """The recorded requests (health probes left out unless asked)."""
        with self.lock:
            reqs = list(self.requests)
        return [r for r in reqs if include_health or r.path != "/health"]

    def clear(self):
        with self.lock:
            self.requests.clear()

    def find(self, pred):
        return [r for r in self.log() if pred(r)]

    def with_target(self, needle):
        return [r for r in self.log() if needle in r.target]

    def wait_requests(self, pred, n=1, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            got = [r for r in self.log() if pred(r)]
            if len(got) >= n or time.monotonic() > deadline:
                return got
            time.sleep(0.02)

    def close_idle(self):
        """Closes every connection between requests (shutdown both ways)."""
        with self.lock:
            conns = list(self.conns.values())
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- serving ------------------------------------------------------------------------

    def _send(self, s, status, headers=(), body=b"", head=False, cid=0, reason=None):
        reason = reason or _REASONS.get(status, "Status")
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines.append(f"X-Backend: {self.name}")
        lines.append(f"X-Conn-Id: {cid}")
        has_len = any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers)
        for k, v in headers:
            lines.append(f"{k}: {v}")
        if not has_len and not (100 <= status < 200 or status in (204, 304)):
            lines.append(f"Content-Length: {len(body)}")
        out = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not head and not (100 <= status < 200 or status in (204, 304)):
            out += body
        s.sendall(out)

    def handle(self, s, cid):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rd = _Reader(s)
        seq = 0
        while not self.stopping:
            try:
                start, headers = _parse_head(rd, first_line_optional=True)
            except ClosedError:
                return
            seq += 1
            parts = start.split(" ")
            if len(parts) != 3:
                self._send(s, 400, [("Connection", "close")], b"bad request line\n", cid=cid)
                return
            method, target, version = parts
            req = Request(self.name, cid, seq, method, target, version, headers)
            path = req.path
            with self.lock:
                self.requests.append(req)
            if path == "/health":
                with self.lock:
                    self.health_probes += 1
            if self.drop_reused and seq > 1:
                self._read_body(s, rd, req, None)
                req.dropped = True
                s.shutdown(socket.SHUT_RDWR)
                return
            upgrade = (req.header("Upgrade") or "").lower()
            if path == "/upgrade-refuse":
                # Answer without reading what follows the head: those bytes are parsed as
                # the next request if the connection is (wrongly) reused.
                req.complete = True
                self._send(s, 400, [("Connection", "keep-alive")], b"nope\n", cid=cid)
                continue
            if path == "/ws" and upgrade == "websocket":
                req.complete = True
                self._websocket(s, rd, req, cid)
                return
            if path == "/drop":
                self._read_body(s, rd, req, None)
                req.dropped = True
                return
            if path.startswith("/sink"):
                q = req.query
                pause_at = int(q.get("pause_at", ["-1"])[0])
                pause = float(q.get("pause", ["0"])[0])
                self._read_body(s, rd, req, (pause_at, pause))
            else:
                self._read_body(s, rd, req, None)
            if not self._respond(s, req, cid):
                return
            conn_hdr = (req.header("Connection") or "").lower()
            if "close" in conn_hdr or (version == "HTTP/1.0" and "keep-alive" not in conn_hdr):
                s.shutdown(socket.SHUT_WR)
                return

    def _read_body(self, s, rd, req, pause):
        te = (req.header("Transfer-Encoding") or "").lower()
        cl = req.header("Content-Length")
        expects = (req.header("Expect") or "").lower() == "100-continue"
        has_body = "chunked" in te or (cl is not None and cl.strip() not in ("", "0"))
        if expects and has_body:
            s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in te:
            while True:
                size_line = rd.line().rstrip(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    break
                left = size
                while left:
                    data = rd.some(min(left, 1 << 20))
                    left -= len(data)
                    req.add_body(data)
                    self._maybe_pause(req, pause)
                if rd.exact(2) != b"\r\n":
                    raise ValueError("missing CRLF after chunk")
            while True:
                ln = rd.line()
                if ln in (b"\r\n", b"\n"):
                    break
                k, _, v = ln.rstrip(b"\r\n").partition(b":")
                req.trailers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        elif cl is not None:
            left = int(cl.split(",")[0].strip())
            while left:
                data = rd.some(min(left, 1 << 20))
                left -= len(data)
                req.add_body(data)
                self._maybe_pause(req, pause)
        req.complete = True

    @staticmethod
    def _maybe_pause(req, pause):
        """Sleeps once per request when its body reaches pause = (offset, seconds)."""
        if not pause or pause[0] < 0 or getattr(req, "_paused", False):
            return
        if req.body_len >= pause[0]:
            req._paused = True
            time.sleep(pause[1])

    def _respond(self, s, req, cid):
        """Answers req; returns False when the connection must end."""
        path, q, head = req.path, req.query, req.method == "HEAD"
        parts = path.strip("/").split("/")
        if path == "/health":
            st = 200 if self.healthy else 503
            self._send(s, st, [("Content-Type", "text/plain")], b"ok\n" if st == 200 else b"down\n",
                       head=head, cid=cid)
            return True
        if parts[0] == "status" and len(parts) == 2:
            st = int(parts[1])
            hdrs = [("Content-Type", "text/plain")]
            if st == 304:
                hdrs.append(("ETag", '"x"'))
            self._send(s, st, hdrs, f"status {st}\n".encode(), head=head, cid=cid)
            return True
        if parts[0] == "slow-head" and len(parts) == 2:
            deadline = time.monotonic() + float(parts[1])
            while time.monotonic() < deadline and not self.stopping:
                time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
            return self._echo(s, req, cid, head)
        if parts[0] == "stream" and len(parts) == 2:
            n = int(parts[1])
            chunked = q.get("te", [""])[0] == "chunked"
            csize = int(q.get("chunk", [str(1 << 20)])[0])
            hdrs = [("Content-Type", "application/octet-stream"),
                    ("X-Pattern-Crc32", str(pattern_crc(n)) if n <= (64 << 20) else "-")]
            hdrs.append(("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(n)))
            self._send(s, 200, hdrs, b"", head=True, cid=cid)
            if head:
                return True
            for c in pattern_chunks(n, csize):
                if chunked:
                    s.sendall(b"%x\r\n" % len(c))
                    s.sendall(c)
                    s.sendall(b"\r\n")
                else:
                    s.sendall(c)
            if chunked:
                s.sendall(b"0\r\n\r\n")
            return True
        if path.startswith("/sink"):
            body = json.dumps({"len": req.body_len, "crc32": req.body_crc}).encode()
            self._send(s, 200, [("Content-Type", "application/json")], body, head=head, cid=cid)
            return True
        if path == "/sse":
            n = int(q.get("n", ["5"])[0])
            interval = float(q.get("interval", ["0.2"])[0])
            self._send(s, 200, [("Content-Type", "text/event-stream"),
                                ("Cache-Control", "no-cache"),
                                ("Transfer-Encoding", "chunked")], head=True, cid=cid)
            for i in range(n):
                ev = f"id: {i}\ndata: event {i} at {time.monotonic():.3f}\n\n".encode()
                s.sendall(b"%x\r\n%s\r\n" % (len(ev), ev))
                time.sleep(interval)
            s.sendall(b"0\r\n\r\n")
            return True
        if path == "/close-mid-body":
            if q.get("chunked", ["0"])[0] == "1":
                self._send(s, 200, [("Transfer-Encoding", "chunked")], head=True, cid=cid)
                s.sendall(b"1000\r\n" + b"x" * 4096 + b"\r\n")
                time.sleep(0.3)
                s.sendall(b"1000\r\n" + b"y" * 100)  # truncated chunk, no terminator
                time.sleep(0.1)
                s.shutdown(socket.SHUT_RDWR)
            else:
                self._send(s, 200, [("Content-Length", "1000000")], head=True, cid=cid)
                s.sendall(b"z" * 65536)
                time.sleep(0.3)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if parts[0] == "bad" and len(parts) == 2:
            s.sendall(_BAD_RESPONSES[parts[1]]())
            time.sleep(0.05)
            s.shutdown(socket.SHUT_WR)
            return False
        return self._echo(s, req, cid, head)

    def _echo(self, s, req, cid, head):
        body = json.dumps(req.as_json()).encode()
        self._send(s, 200, [("Content-Type", "application/json"),
                            ("X-Echo-Target", req.target)], body, head=head, cid=cid)
        return True

    def _websocket(self, s, rd, req, cid):
        key = req.header("Sec-WebSocket-Key", "")
        self._send_raw(s, (
            "HTTP/1.1 101 Switching Protocols\r\n"
            f"X-Backend: {self.name}\r\nX-Conn-Id: {cid}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {ws_accept(key)}\r\n\r\n").encode())
        while not self.stopping:
            opcode, payload = ws_read_frame(rd, expect_masked=True)
            if opcode == 0x8:
                ws_send_frame(s, 0x8, payload[:2], mask=False)
                return
            if opcode == 0x9:
                ws_send_frame(s, 0xA, payload, mask=False)
                continue
            if opcode in (0x1, 0x2):
                ws_send_frame(s, opcode, payload, mask=False)

    @staticmethod
    def _send_raw(s, data):
        s.sendall(data)


def _bad_obsfold():
    return (b"HTTP/1.1 200 OK\r\nX-Backend: bad\r\nX-Folded: a\r\n  b\r\n"
            b"Content-Length: 3\r\n\r\nok\n")


def _bad_te():
    # Both framings at once: the response-side smuggling shape.
    return (b"HTTP/1.1 200 OK\r\nX-Backend: bad\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 3\r\n\r\n3\r\nok\n\r\n0\r\n\r\n")


def _bad_dupcl():
    return (b"HTTP/1.1 200 OK\r\nX-Backend: bad\r\nContent-Length: 3\r\n"
            b"Content-Length: 4\r\n\r\nok\n\n")


def _bad_bighdr():
    return (b"HTTP/1.1 200 OK\r\nX-Backend: bad\r\nX-Big: " + b"a" * (2 << 20)
            + b"\r\nContent-Length: 3\r\n\r\nok\n")


_BAD_RESPONSES = {
    "obsfold": _bad_obsfold,
    "te": _bad_te,
    "dupcl": _bad_dupcl,
    "bighdr": _bad_bighdr,
}

_REASONS = {
    100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created", 204: "No Content",
    301: "Moved Permanently", 302: "Found", 304: "Not Modified", 400: "Bad Request",
    401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    408: "Request Timeout", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout",
}


class BlackHole(_Server):
    """Accepts connections and never reads nor answers; closes them when stopped."""

    def handle(self, s, cid):
        while not self.stopping:
            time.sleep(0.05)


class HangingListener:
    """A listening socket whose accept queue is full and never drained: a SYN to it is
    dropped, so connect() hangs (the dial-timeout case) on loopback."""

    def __init__(self):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(0)
        self.port = self.lsock.getsockname()[1]
        self.held = []
        for _ in range(16):
            c = socket.socket()
            c.setblocking(False)
            try:
                c.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self.held.append(c)
            _, w, _ = select.select([], [c], [], 0.3)
            if not w:
                return
        raise RuntimeError("could not fill the accept queue")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        for c in self.held:
            c.close()
        self.lsock.close()


def refused_url():
    """A loopback URL where nothing listens (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # never listened: a SYN gets RST
    return f"http://127.0.0.1:{port}"


# ---- WebSocket frames ---------------------------------------------------------------------


def ws_send_frame(s, opcode, payload, mask=True, fin=True):
    hdr = bytearray([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr.append(mbit | n)
    elif n < 65536:
        hdr.append(mbit | 126)
        hdr += struct.pack("!H", n)
    else:
        hdr.append(mbit | 127)
        hdr += struct.pack("!Q", n)
    if mask:
        key = os.urandom(4)
        hdr += key
        payload = _xor(payload, key)
    s.sendall(bytes(hdr) + bytes(payload))


def _xor(data, key):
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big") if n else b""


def ws_read_frame(rd, expect_masked=False):
    """Reads one frame (continuations are not used by these tests); returns (opcode,
    payload)."""
    b0, b1 = rd.exact(2)
    opcode = b0 & 0x0F
    masked = bool(b1 & 0x80)
    if masked != expect_masked:
        raise ValueError("frame masking is wrong for this direction")
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", rd.exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", rd.exact(8))[0]
    key = rd.exact(4) if masked else None
    payload = rd.exact(n)
    if key:
        payload = _xor(payload, key)
    return opcode, payload


# ---- clients ------------------------------------------------------------------------------


class Response:
    def __init__(self, status, reason, headers, body, version="HTTP/1.1"):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.version = version

    def header(self, name, default=None):
        return _hget(self.headers, name, default)

    def header_all(self, name):
        return _hall(self.headers, name)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers!r} {self.body[:200]!r}>"


class RawConn:
    """One client connection that sends raw bytes and reads HTTP/1.1 responses."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rd = _Reader(self.sock)

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method="GET", target="/", host="app.example", headers=(), body=None,
                version="HTTP/1.1"):
        lines = [f"{method} {target} {version}"]
        if host is not None:
            lines.append(f"Host: {host}")
        for k, v in headers:
            lines.append(f"{k}: {v}")
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                        for k, _ in headers):
            lines.append(f"Content-Length: {len(body)}")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b""))

    def read_response(self, head=False, body_sink=None, skip_interim=True):
        """Reads one response. Returns None when the connection closed before its first
        byte. Raises ClosedError when it closed (or was reset) mid-response. HEAD, 1xx, 204
        and 304 responses have no body. body_sink(bytes) receives the body instead of it
        being kept."""
        while True:
            try:
                if not self.rd.buf:
                    self.rd.fill()
            except (ClosedError, ConnectionResetError):
                return None
            try:
                start, headers = _parse_head(self.rd)
            except ConnectionResetError as e:
                raise ClosedError() from e
            version, _, rest = start.partition(" ")
            code, _, reason = rest.partition(" ")
            status = int(code)
            if 100 <= status < 200 and status != 101 and skip_interim:
                continue
            break
        body = bytearray()
        sink = body_sink or body.extend
        try:
            if head or 100 <= status < 200 or status in (204, 304):
                pass
            elif "chunked" in (_hget(headers, "Transfer-Encoding") or "").lower():
                while True:
                    size = int(self.rd.line().rstrip(b"\r\n").split(b";")[0], 16)
                    if size == 0:
                        break
                    left = size
                    while left:
                        d = self.rd.some(min(left, 1 << 20))
                        left -= len(d)
                        sink(d)
                    if self.rd.exact(2) != b"\r\n":
                        raise ValueError("bad chunk end")
                while self.rd.line() not in (b"\r\n", b"\n"):
                    pass
            elif _hget(headers, "Content-Length") is not None:
                left = int(_hget(headers, "Content-Length"))
                while left:
                    d = self.rd.some(min(left, 1 << 20))
                    left -= len(d)
                    sink(d)
            else:
                while True:
                    try:
                        sink(self.rd.some(1 << 20))
                    except ClosedError:
                        break
        except ConnectionResetError as e:
            raise ClosedError() from e
        return Response(status, reason, headers, bytes(body), version)

    def closed_by_peer(self, timeout=5.0):
        """True when the peer closed (EOF or reset) within timeout with nothing more to
        read; False if it stayed open (or sent more bytes)."""
        if self.rd.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if data:
            self.rd.buf += data
            return False
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def ws_connect(port, path="/ws", host="app.example", headers=(), timeout=10.0):
    """Opens a WebSocket through `port`; returns (RawConn, Response of the handshake)."""
    c = RawConn(port, timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    c.request("GET", path, host=host, headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"), *headers])
    r = c.read_response(skip_interim=False)
    if r is not None and r.status == 101:
        assert r.header("Sec-WebSocket-Accept") == ws_accept(key), r
    return c, r


def ws_roundtrip(c, payload, opcode=0x1):
    ws_send_frame(c.sock, opcode, payload, mask=True)
    return ws_read_frame(c.rd, expect_masked=False)


# ---- configuration helpers ----------------------------------------------------------------


def lb_service(*urls, **lb):
    """A `loadBalancer` service over `urls` (str, or (url, weight))."""
    servers = []
    for u in urls:
        if isinstance(u, tuple):
            servers.append({"url": u[0], "weight": u[1]})
        else:
            servers.append({"url": u})
    return {"loadBalancer": {"servers": servers, **lb}}


def wait_until(pred, timeout=10.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            return v
        time.sleep(interval)


def wait_routed(w, host, path="/echo", entrypoint="web", timeout=15.0):
    """Polls until wharf's route for host answers something other than 404 (the dynamic
    configuration is applied asynchronously). Returns the last status."""
    last = None

    def ok():
        nonlocal last
        try:
            last = w.http.get(w.url(path, entrypoint), headers={"Host": host}, timeout=5)
        except Exception:  # noqa: BLE001 (keep polling until the deadline)
            return False
        return last.status_code != 404

    wait_until(ok, timeout, 0.05)
    return last.status_code if last is not None else None


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise RuntimeError("no VmRSS")


class RssSampler:
    """Samples a process's VmRSS every `interval` seconds in a thread; `.max` is the peak."""

    def __init__(self, pid, interval=0.05):
        self.pid = pid
        self.before = rss_kib(pid)
        self.max = self.before
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max = max(self.max, rss_kib(self.pid))
            except (OSError, RuntimeError):
                return
            self._stop.wait(0.05)

    def stop(self):
        self._stop.set()
        self._t.join(2)
        self.after = rss_kib(self.pid)
        self.max = max(self.max, self.after)
        return self


class BackendSet:
    """The origins one test (or module) started; `stop_all` ends every one of them."""

    def __init__(self):
        self.started = []

    def http(self, name):
        b = Backend(name)
        self.started.append(b)
        return b

    def black_hole(self):
        b = BlackHole()
        self.started.append(b)
        return b

    def hanging(self):
        b = HangingListener()
        self.started.append(b)
        return b

    def stop_all(self):
        for b in self.started:
            b.stop()
        self.started.clear()
