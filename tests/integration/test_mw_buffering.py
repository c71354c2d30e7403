"""buffering middleware through the real binary (TRAEFIK-COMPAT §4 "buffering"): the request
body is read whole before the backend is dialled (413 beyond maxRequestBodyBytes, announced or
streamed), responses beyond maxResponseBodyBytes answer 500, and retryExpression, which wharf
does not implement, fails closed. Also: request bodies survive a middleware that delays or
suspends the exchange (rateLimit delay, bcrypt basicAuth)."""
import base64
import json
import socket
import subprocess

import pytest


@pytest.fixture(scope="module")
def env(module_wharf, module_backends):
    b = module_backends.http("buf")
    line = subprocess.run(["htpasswd", "-nbB", "u", "p"], capture_output=True, text=True,
                          check=True).stdout.strip()

    def r(host, mws):
        return {"rule": f"Host(`{host}`)", "service": "s", "middlewares": mws}
    w = module_wharf.start({"entryPoints": {"web": {}}}, dynamic={"http": {
        "routers": {
            "buf": r("buf.example", ["small"]),
            "resp": r("resp.example", ["small-resp"]),
            "retry": r("retryexpr.example", ["retryexpr"]),
            "auth": r("auth.example", ["auth"]),
            "chain": r("chain.example", ["both"]),
        },
        "services": {"s": {"loadBalancer": {"servers": [{"url": b.url}]}}},
        "middlewares": {
            "small": {"buffering": {"maxRequestBodyBytes": 1000}},
            "small-resp": {"buffering": {"maxResponseBodyBytes": 1000}},
            "retryexpr": {"buffering": {"retryExpression": "IsNetworkError() && Attempts() < 2"}},
            "auth": {"basicAuth": {"users": [line]}},
            "both": {"chain": {"middlewares": ["auth", "small"]}},
        },
    }})
    return w, b


def post(w, host, body, headers=None):
    h = {"Host": host}
    h.update(headers or {})
    return w.http.post(w.url("/sink", "web"), data=body, headers=h, timeout=20)


def test_body_within_the_limit_reaches_the_backend_whole(env):
    w, _ = env
    r = post(w, "buf.example", b"x" * 900)
    assert r.status_code == 200 and r.json()["len"] == 900


def test_announced_body_over_the_limit_is_413_without_the_backend(env):
    w, b = env
    before = len(b.requests)
    r = post(w, "buf.example", b"x" * 5000)
    assert r.status_code == 413
    assert len(b.requests) == before


def test_chunked_body_over_the_limit_is_413_without_the_backend(env):
    w, b = env
    before = len(b.requests)

    def gen():
        for _ in range(10):
            yield b"y" * 500
    r = post(w, "buf.example", gen())
    assert r.status_code == 413
    assert len(b.requests) == before
    r = post(w, "buf.example", iter([b"z" * 300, b"z" * 300]))  # chunked, within the limit
    assert r.status_code == 200 and r.json()["len"] == 600


def test_response_over_the_limit_is_500(env):
    w, _ = env
    r = w.http.get(w.url("/stream/5000", "web"), headers={"Host": "resp.example"}, timeout=10)
    assert r.status_code == 500
    r = w.http.get(w.url("/stream/500", "web"), headers={"Host": "resp.example"}, timeout=10)
    assert r.status_code == 200 and len(r.content) == 500


def test_streamed_response_over_the_limit_is_aborted(env):
    w, _ = env
    with socket.create_connection(("127.0.0.1", w.ports["web"]), timeout=10) as s:
        s.sendall(b"GET /stream/50000?te=chunked HTTP/1.1\r\nHost: resp.example\r\n\r\n")
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
    # never a complete chunked body
    assert not data.endswith(b"0\r\n\r\n")


def test_retry_expression_fails_closed(env):
    w, _ = env
    r = w.http.get(w.url("/echo", "web"), headers={"Host": "retryexpr.example"}, timeout=10)
    assert r.status_code == 500


def test_body_survives_a_suspended_exchange(env):
    """bcrypt basicAuth suspends the exchange: the body read meanwhile still reaches the
    backend, through a chain that also buffers."""
    w, _ = env
    auth = {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
    for host in ("auth.example", "chain.example"):
        r = post(w, host, b"q" * 700, auth)
        assert r.status_code == 200, (host, r.status_code, r.text[:200])
        assert r.json()["len"] == 700
