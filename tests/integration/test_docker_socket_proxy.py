"""HARDENING 43: behind a socket proxy that lets only GET through (docker-socket-proxy with
POST=0), over a tcp:// endpoint, the docker provider has its full function: it never sends
anything but GET."""

import socket
import threading

from conftest import free_port
from test_docker_provider import enabled, get, poll, routed_to, start


class GetOnlyProxy:
    """TCP on 127.0.0.1 -> the private engine's Unix socket, one request per connection
    (Connection: close is forced so that every request is inspected); anything but GET gets
    403 and is recorded."""

    def __init__(self, unix_path):
        self.unix_path = unix_path
        self.port = free_port()
        self.methods = []
        self.refused = []
        self.srv = socket.create_server(("127.0.0.1", self.port))
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            head = b""
            while b"\r\n\r\n" not in head and len(head) < 65536:
                chunk = c.recv(4096)
                if not chunk:
                    return
                head += chunk
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method = line.split(" ", 1)[0]
            self.methods.append(line)
            if method != "GET":
                self.refused.append(line)
                c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            hdr, _, rest = head.partition(b"\r\n\r\n")
            lines = [l for l in hdr.split(b"\r\n") if not l.lower().startswith(b"connection:")]
            fwd = b"\r\n".join(lines) + b"\r\nConnection: close\r\n\r\n" + rest
            u = socket.socket(socket.AF_UNIX)
            u.connect(self.unix_path)
            u.sendall(fwd)

            def pump(src, dst):
                try:
                    while True:
                        b = src.recv(65536)
                        if not b:
                            break
                        dst.sendall(b)
                except OSError:
                    pass
                finally:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass

            t = threading.Thread(target=pump, args=(c, u), daemon=True)
            t.start()
            pump(u, c)
            u.close()
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stopping = True
        self.srv.close()


def test_get_only_socket_proxy_over_tcp_endpoint(wharf, docker):
    proxy = GetOnlyProxy(str(docker.socket))
    try:
        net, _ = docker.network("sp-net")
        w = start(wharf, docker, endpoint=f"tcp://127.0.0.1:{proxy.port}")
        docker.run("sp-app", network=net, labels=enabled(**{
            "traefik.http.routers.sp.rule": "Host(`sp.example`)"}))
        poll(w, "sp.example", routed_to("sp-app"), timeout=15)
        # events come through the proxy too: a stop is seen
        docker.stop("sp-app")
        poll(w, "sp.example", lambda r: r.status_code == 404, timeout=15)
        assert proxy.methods, "nothing went through the proxy"
        assert not proxy.refused, proxy.refused
        assert any("/events" in m for m in proxy.methods), proxy.methods
    finally:
        proxy.close()
