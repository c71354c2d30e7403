"""Backends that fail the TLS handshake towards them (issue 9): a plain HTTP server behind an
https:// URL, a server that closes at once, and one that never answers the ClientHello. Each
exchange fails the way Traefik's does (502, or 504 for the handshake timeout) with a log line
naming the backend, and wharf keeps serving the other routes."""
import socket
import threading
import time

from backends import lb_service, wait_routed


def _closer():
    """Accepts and closes every connection at once."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)

    def loop():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            c.close()

    threading.Thread(target=loop, daemon=True).start()
    return ls


def _start(wharf, backends, urls):
    ok = backends.http("ok")
    routers = {name: {"rule": f"Host(`{name}.example`)", "service": name, "entryPoints": ["web"]}
               for name in list(urls) + ["ok"]}
    services = {name: lb_service(url) for name, url in urls.items()}
    services["ok"] = lb_service(ok.url)
    w = wharf.start({"entryPoints": {"web": {}}},
                    dynamic={"http": {"routers": routers, "services": services}})
    wait_routed(w, "ok.example")
    return w


def test_plain_http_server_behind_https_url(wharf, backends):
    plain = backends.http("plain")
    w = _start(wharf, backends, {"plain": f"https://127.0.0.1:{plain.port}"})
    r = w.get("/", "web", headers={"Host": "plain.example"})
    assert r.status_code == 502
    w.wait_for_log(rf"WRN [^\n]*TLS to backend https://127\.0\.0\.1:{plain.port} failed: ", 10)
    # nothing was relayed in the clear, and the other route is untouched
    assert w.get("/echo", "web", headers={"Host": "ok.example"}).status_code == 200


def test_backend_closing_during_the_handshake(wharf, backends):
    ls = _closer()
    try:
        port = ls.getsockname()[1]
        w = _start(wharf, backends, {"closer": f"https://127.0.0.1:{port}"})
        r = w.get("/", "web", headers={"Host": "closer.example"})
        assert r.status_code == 502
        w.wait_for_log(rf"TLS to backend https://127\.0\.0\.1:{port} failed: "
                       r"(connection closed during the handshake|[^\n]*reset)", 10)
        assert w.get("/echo", "web", headers={"Host": "ok.example"}).status_code == 200
    finally:
        ls.close()


def test_silent_backend_times_out_the_handshake(wharf, backends):
    """A backend that accepts and never answers the ClientHello: 504 at Go's 10 s
    TLSHandshakeTimeout, well before the 30 s dialTimeout, and the route stays usable."""
    hole = backends.black_hole()
    w = _start(wharf, backends, {"hole": f"https://127.0.0.1:{hole.port}"})
    t0 = time.monotonic()
    r = w.get("/", "web", headers={"Host": "hole.example"}, timeout=40)
    took = time.monotonic() - t0
    assert r.status_code == 504
    assert 8 <= took < 25, took
    assert w.get("/echo", "web", headers={"Host": "ok.example"}).status_code == 200
