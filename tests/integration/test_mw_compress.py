"""compress middleware through the real binary (TRAEFIK-COMPAT §4 "compress"): gzip, br and
zstd chosen from Accept-Encoding (q-values, the configured order), never on HEAD, small or
excluded bodies left alone, Vary: Accept-Encoding, and streamed bodies flushed as they come."""
import socket
import subprocess
import time
import zlib

import pytest

from backends import pattern_crc


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    b = module_backends.http("z")
    w = module_wharf.start({"entryPoints": {"web": {}}}, dynamic={"http": {
        "routers": {
            "all": {"rule": "Host(`z.example`)", "service": "s", "middlewares": ["zip"]},
            "noocts": {"rule": "Host(`text.example`)", "service": "s",
                       "middlewares": ["text-only"]},
            "plain": {"rule": "Host(`plain.example`)", "service": "s"},
        },
        "services": {"s": {"loadBalancer": {"servers": [{"url": b.url}]}}},
        "middlewares": {
            "zip": {"compress": {}},
            "text-only": {"compress": {"excludedContentTypes": ["application/octet-stream"]}},
        },
    }})
    return w


def raw_get(w, path, host="z.example", ae=None, method="GET"):
    headers = {"Host": host, "Accept-Encoding": ae or "identity"}
    r = w.http.request(method, w.url(path, "web"), headers=headers, stream=True, timeout=10)
    body = r.raw.read(decode_content=False)
    return r, body


def decode(enc, data):
    if enc == "gzip":
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    tool = {"br": ["brotli", "-d", "-c"], "zstd": ["zstd", "-d", "-c", "-q"]}[enc]
    return subprocess.run(tool, input=data, capture_output=True, check=True).stdout


@pytest.mark.parametrize("ae,enc", [
    ("gzip", "gzip"),
    ("br", "br"),
    ("zstd", "zstd"),
    ("gzip, deflate, br, zstd", "gzip"),          # equal q: the configured order
    ("gzip;q=0.5, br;q=0.9", "br"),               # highest q
    ("br;q=0, gzip", "gzip"),                     # q=0 refuses
    ("*", "gzip"),                                # any: the first configured
])
@pytest.mark.parametrize("te", ["", "?te=chunked"])
def test_encoding_is_negotiated_and_the_body_round_trips(env, ae, enc, te):
    n = 200_000
    r, body = raw_get(env, f"/stream/{n}{te}", ae=ae)
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == enc
    assert "Content-Length" not in r.headers
    assert "Accept-Encoding" in r.headers.get("Vary", "")
    plain = decode(enc, body)
    assert len(plain) == n and zlib.crc32(plain) == pattern_crc(n)


def test_compressible_text_shrinks(env):
    r, body = raw_get(env, "/echo?" + "x" * 3000, ae="gzip")
    assert r.headers.get("Content-Encoding") == "gzip"
    plain = decode("gzip", body)
    assert len(body) < len(plain) / 2


@pytest.mark.parametrize("ae", [None, "identity", "deflate", "br;q=0, gzip;q=0, zstd;q=0"])
def test_nothing_acceptable_means_identity(env, ae):
    r, body = raw_get(env, "/stream/5000", ae=ae)
    assert "Content-Encoding" not in r.headers
    assert len(body) == 5000


def test_never_on_head_nor_small_bodies(env):
    r, _ = raw_get(env, "/stream/5000", ae="gzip", method="HEAD")
    assert "Content-Encoding" not in r.headers
    assert r.headers["Content-Length"] == "5000"
    r, body = raw_get(env, "/stream/500", ae="gzip")  # under minResponseBodyBytes (1024)
    assert "Content-Encoding" not in r.headers and len(body) == 500
    assert "Accept-Encoding" in r.headers.get("Vary", "")


def test_excluded_content_type_is_not_compressed(env):
    r, body = raw_get(env, "/stream/5000", host="text.example", ae="gzip")
    assert "Content-Encoding" not in r.headers and len(body) == 5000
    r, body = raw_get(env, "/echo?" + "y" * 2000, host="text.example", ae="gzip")
    assert r.headers.get("Content-Encoding") == "gzip"


def test_router_without_the_middleware_is_untouched(env):
    r, body = raw_get(env, "/stream/5000", host="plain.example", ae="gzip")
    assert "Content-Encoding" not in r.headers and "Vary" not in r.headers


def test_streamed_events_arrive_compressed_as_they_come(env):
    w = env
    with socket.create_connection(("127.0.0.1", w.ports["web"]), timeout=10) as s:
        s.sendall(b"GET /sse?n=3&interval=0.5 HTTP/1.1\r\nHost: z.example\r\n"
                  b"Accept-Encoding: gzip\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        head, rest = head.split(b"\r\n\r\n", 1)
        assert b"Content-Encoding: gzip" in head
        # the first event decodes before the stream ends (each write is flushed)
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        got, buf, t0 = b"", rest, time.monotonic()
        while b"data:" not in got:
            # strip chunk framing: size line, data, CRLF
            while b"\r\n" in buf:
                size_line, after = buf.split(b"\r\n", 1)
                size = int(size_line, 16)
                if len(after) < size + 2:
                    break
                got += d.decompress(after[:size])
                buf = after[size + 2:]
            if b"data:" in got:
                break
            buf += s.recv(4096)
        assert time.monotonic() - t0 < 1.2  # before the last event (1 s later) was sent
