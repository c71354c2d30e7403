"""TLS backends for the upstream TLS tests (issue 9): real servers that wharf connects to.

- `Nginx`: nginx (nginx-light) in the foreground, one process, listening with TLS on a loopback
  port, optionally requiring a client certificate (`ssl_verify_client on`). Every request is
  answered `sni=<SNI it saw> host=<Host> client=<client certificate subject DN>` and logged as
  `<connection serial> <r|.> <TLS version>`, so a test can count TLS handshakes (distinct
  connections) and session resumptions (`r`).
- `SServer`: `openssl s_server -www -Verify 1`, a backend that fails the handshake when the
  client sends no certificate its CA issued (nginx completes the handshake and answers 400).
- `TLSEcho`: a Python TLS echo server for TCP routers (records the SNI and the plaintext).
- `TLSRecordingBackend`: backends.Backend (recording HTTP/1.1 origin, WebSocket echo) over TLS.
- Certificates made with the openssl command line on top of tlsutil.CA: a leaf with any SAN
  string (URI SANs for SPIFFE ids), and self-signed certificates nobody trusts.

Everything listens on 127.0.0.1 only.
"""
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from backends import Backend
from conftest import free_port
from tlsutil import run


# ---- certificates -------------------------------------------------------------------------

def issue_san(ca, base, cn, san, client=False, days=30):
    """A leaf for CN=cn signed by tlsutil.CA `ca`, with the literal subjectAltName value `san`
    (e.g. "DNS:backend.example,URI:spiffe://example.org/backend"); returns (cert, key)."""
    d = ca.dir
    key, csr, crt, ext = (d / f"{base}.key", d / f"{base}.csr", d / f"{base}.pem",
                          d / f"{base}.ext")
    run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-out", str(key))
    run("openssl", "req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={cn}")
    usage = "clientAuth" if client else "serverAuth"
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca.cert), "-CAkey", str(ca.key),
        "-CAcreateserial", "-out", str(crt), "-days", str(days), "-extfile", str(ext))
    return crt, key


def self_signed(d, base, cn, san):
    """A self-signed leaf (no CA anyone trusts) with subjectAltName `san`; returns (cert, key)."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    key, crt = d / f"{base}.key", d / f"{base}.pem"
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
        "-nodes", "-keyout", str(key), "-out", str(crt), "-days", "30", "-subj", f"/CN={cn}",
        "-addext", f"subjectAltName={san}")
    return crt, key


# ---- processes ----------------------------------------------------------------------------

def _wait_listening(port, proc, what, logfile=None, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = Path(logfile).read_text(errors="replace")[-2000:] if logfile else ""
            raise AssertionError(f"{what} exited with {proc.returncode}:\n{tail}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not listening on 127.0.0.1:{port} after {timeout}s")
        time.sleep(0.05)


def _stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Nginx:
    """nginx serving TLS on 127.0.0.1:<port> from directory d (its prefix, logs, config)."""

    BINARY = "/usr/sbin/nginx"

    def __init__(self, d, cert, key, client_ca=None, keepalive_requests=100000,
                 protocols="TLSv1.2 TLSv1.3"):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.access_log = self.dir / "access.log"
        self.error_log = self.dir / "error.log"
        verify = (f"ssl_verify_client on; ssl_client_certificate {client_ca};"
                  if client_ca else "")
        tmp = self.dir / "tmp"
        tmp.mkdir(exist_ok=True)
        conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.error_log} info;
events {{ worker_connections 1024; }}
http {{
    log_format conn '$connection $ssl_session_reused $ssl_protocol';
    access_log {self.access_log} conn;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests {keepalive_requests};
    keepalive_timeout 120s;
    server {{
        listen 127.0.0.1:{self.port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols {protocols};
        ssl_session_cache shared:wharftest:1m;
        ssl_session_tickets on;
        {verify}
        location / {{
            default_type text/plain;
            return 200 "sni=$ssl_server_name host=$host client=$ssl_client_s_dn\\n";
        }}
    }}
}}
"""
        self.conf = self.dir / "nginx.conf"
        self.conf.write_text(conf)
        self.stderr = open(self.dir / "stderr.log", "wb")
        self.proc = subprocess.Popen(
            [self.BINARY, "-p", str(self.dir), "-c", str(self.conf), "-e", str(self.error_log)],
            stdin=subprocess.DEVNULL, stdout=self.stderr, stderr=subprocess.STDOUT)
        _wait_listening(self.port, self.proc, "nginx", self.dir / "stderr.log")

    @property
    def https_url(self):
        return f"https://127.0.0.1:{self.port}"

    def lines(self):
        """The access log as [(connection, reused, protocol)]; the probe connection made at
        start (no request) is never logged."""
        if not self.access_log.exists():
            return []
        out = []
        for ln in self.access_log.read_text().splitlines():
            parts = ln.split()
            if len(parts) >= 2:
                out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else ""))
        return out

    def connections(self):
        """Distinct TLS connections (handshakes) that carried at least one request, in order."""
        seen = []
        for c, _, _ in self.lines():
            if c not in seen:
                seen.append(c)
        return seen

    def reused_by_connection(self):
        """{connection: "r" or "."} for every connection that carried a request."""
        return {c: r for c, r, _ in self.lines()}

    def stop(self):
        _stop(self.proc)
        self.stderr.close()


class SServer:
    """`openssl s_server -www` on 127.0.0.1:<port>; with client_ca it requires (-Verify 1) a
    client certificate issued by that CA and fails the handshake otherwise. One connection at
    a time; the answer is s_server's status page (it names the client certificate)."""

    def __init__(self, d, cert, key, client_ca=None):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{self.port}", "-cert", str(cert),
                "-key", str(key), "-www", "-naccept", "1000"]
        if client_ca:
            argv += ["-Verify", "1", "-verify_return_error", "-CAfile", str(client_ca)]
        self.log = self.dir / f"s_server-{self.port}.log"
        self.out = open(self.log, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        _wait_listening(self.port, self.proc, "openssl s_server", self.log)

    @property
    def https_url(self):
        return f"https://127.0.0.1:{self.port}"

    def stop(self):
        _stop(self.proc)
        self.out.close()


# ---- Python TLS servers -------------------------------------------------------------------

class TLSEcho:
    """A TLS server answering each chunk with b"tlsecho:" + chunk; records the SNI of every
    handshake and the plaintext it received."""

    def __init__(self, cert, key):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(cert), str(key))
        self.snis = []
        self.received = b""
        self.handshakes = 0
        self.ctx.sni_callback = self._sni
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _sni(self, sslobj, name, ctx):
        self.snis.append(name)

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn):
        try:
            conn.settimeout(10)
            s = self.ctx.wrap_socket(conn, server_side=True)
        except (OSError, ssl.SSLError):
            conn.close()
            return
        with s:
            with self.lock:
                self.handshakes += 1
            try:
                while True:
                    d = s.recv(65536)
                    if not d:
                        return
                    with self.lock:
                        self.received += d
                    s.sendall(b"tlsecho:" + d)
            except (OSError, ssl.SSLError):
                return

    def close(self):
        self.sock.close()


class TLSRecordingBackend(Backend):
    """backends.Backend (recording origin, /ws WebSocket echo, ...) speaking TLS with
    (cert, key)."""

    def __init__(self, name, cert, key):
        self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls_ctx.load_cert_chain(str(cert), str(key))
        super().__init__(name)

    @property
    def https_url(self):
        return f"https://127.0.0.1:{self.port}"

    def handle(self, s, cid):
        s.settimeout(30)
        ts = self.tls_ctx.wrap_socket(s, server_side=True)
        try:
            super().handle(ts, cid)
        finally:
            try:
                ts.close()
            except OSError:
                pass
