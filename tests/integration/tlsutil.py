"""Certificates and TLS clients for the TLS tests.

Certificates are made by the openssl command line in a test's directory: a private CA, leaf
certificates signed by it (RSA or ECDSA, any SANs), and self-signed ones. Clients are Python's
ssl module with explicit SNI, versions, ALPN and client certificates, plus a raw-socket path that
sends a ClientHello made by an ssl.SSLObject in chosen pieces (split records, 1-byte segments).
Only loopback is ever contacted.
"""
import socket
import ssl
import subprocess
import time
import warnings
from pathlib import Path


def run(*argv, cwd=None):
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True, timeout=60)


class CA:
    """A private certificate authority in directory d."""

    def __init__(self, d, name="wharf test CA"):
        self.dir = Path(d)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = self.dir / f"{name.replace(' ', '_')}.key"
        self.cert = self.dir / f"{name.replace(' ', '_')}.pem"
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(self.key), "-out", str(self.cert), "-days", "30",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, sans=(), kind="ec", client=False, days=30):
        """A leaf certificate for CN=name with DNS/IP SANs (defaults to [name]); returns
        (cert_path, key_path). kind: "ec" or "rsa"."""
        sans = list(sans) or [name]
        base = self.dir / f"{name.replace('*', 'star')}-{kind}{'-client' if client else ''}"
        key, csr, crt = (Path(f"{base}.key"), Path(f"{base}.csr"), Path(f"{base}.pem"))
        if kind == "rsa":
            run("openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                "-out", str(key))
        else:
            run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-out", str(key))
        run("openssl", "req", "-new", "-key", str(key), "-out", str(csr), "-subj", f"/CN={name}")
        ext = base.with_suffix(".ext")
        alt = ",".join(("IP:" if s.replace(".", "").isdigit() or ":" in s else "DNS:") + s
                       for s in sans)
        usage = "clientAuth" if client else "serverAuth"
        ext.write_text(f"subjectAltName={alt}\nextendedKeyUsage={usage}\n")
        run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey",
            str(self.key), "-CAcreateserial", "-out", str(crt), "-days", str(days),
            "-extfile", str(ext))
        return crt, key


def der(cert_path):
    """The DER bytes of the first certificate of a PEM file."""
    return ssl.PEM_cert_to_DER_cert(Path(cert_path).read_text())


def client_context(ca=None, minv=None, maxv=None, alpn=None, cert=None, key=None, seclevel0=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if ca:
        ctx.load_verify_locations(str(ca))
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    if seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        # TLS 1.0 and 1.1 are deprecated: the tests use them to see them refused
        warnings.simplefilter("ignore", DeprecationWarning)
        if minv:
            ctx.minimum_version = minv
        if maxv:
            ctx.maximum_version = maxv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if cert:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


class TLSResult:
    def __init__(self, sock, response):
        self.cert = sock.getpeercert(binary_form=True)
        self.version = sock.version()
        self.alpn = sock.selected_alpn_protocol()
        self.response = response

    @property
    def status(self):
        return int(self.response.split(b" ", 2)[1]) if self.response else None

    @property
    def body(self):
        return self.response.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in self.response else b""


def https_get(port, sni, host=None, path="/", ctx=None, timeout=5.0):
    """One HTTP/1.1 request over TLS to 127.0.0.1:port with the given SNI (None: no SNI) and
    Host (default: sni). Returns a TLSResult; raises ssl.SSLError/OSError on failure."""
    ctx = ctx or client_context()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname=sni)
    except BaseException:
        raw.close()
        raise
    with s:
        host = host or sni or "localhost"
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return TLSResult(s, data)


def client_hello(sni, alpn=None):
    """The bytes of a ClientHello an OpenSSL client would send (one TLS record), and the
    SSLObject with its BIOs to continue the handshake."""
    ctx = client_context(alpn=alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read(), obj, inc, out


def split_records(record, at):
    """Re-frames one handshake record into two records split at body offset `at`."""
    assert record[0] == 0x16
    body = record[5:]
    hdr = record[1:3]

    def rec(b):
        return bytes([0x16]) + hdr + len(b).to_bytes(2, "big") + b
    return rec(body[:at]) + rec(body[at:])


def finish_handshake(sock, obj, inc, out, timeout=5.0):
    """Drives an SSLObject over a connected socket until the handshake completes."""
    sock.settimeout(timeout)
    while True:
        try:
            obj.do_handshake()
            pending = out.read()
            if pending:
                sock.sendall(pending)
            return
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                sock.sendall(pending)
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the handshake")
            inc.write(data)


def obj_request(sock, obj, inc, out, host, timeout=5.0):
    """An HTTP/1.1 request over an established SSLObject; returns the raw response."""
    obj.write(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    sock.sendall(out.read())
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = obj.read(65536)
            if not chunk:
                break
            data += chunk
            continue
        except ssl.SSLWantReadError:
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        got = sock.recv(65536)
        if not got:
            break
        inc.write(got)
    return data


def closed_within(sock, seconds):
    """Seconds until the peer closes sock (recv returns b'' or an error), or None if it stays
    open for `seconds`."""
    t0 = time.monotonic()
    sock.settimeout(seconds)
    try:
        while True:
            if not sock.recv(4096):
                return time.monotonic() - t0
    except socket.timeout:
        return None
    except OSError:
        return time.monotonic() - t0
