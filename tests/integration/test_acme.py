"""certificatesResolvers end to end: wharf orders, stores, serves and renews certificates from a
real ACME server (pebble, with pebble-challtestsrv as its DNS), on loopback.

Pebble's validation authority connects to wharf's own entry points: its httpPort is wharf's
`web` port (HTTP-01), its tlsPort wharf's `websecure` port (TLS-ALPN-01), and challtestsrv
answers every A query with 127.0.0.1. For DNS-01 through `rfc2136`, a second pebble resolves
through a knotd started here, authoritative for knot.test, which wharf updates with TSIG. Pebble's HTTPS listener has a certificate made here,
trusted by wharf through LEGO_CA_CERTIFICATES as Traefik users do. A served certificate counts
as issued when a client verifying with pebble's issuing root (/roots/0) accepts it for the name.
"""
import base64
import datetime
import json
import os
import random
import socket
import struct
import ssl
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import WharfProcess, free_port, require_service
from tlsutil import CA

ISSUE_TIMEOUT = 45.0  # a bound for one issuance on a loaded machine, not an expectation


def _wait_port(port, proc, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} not listening on {port} after {timeout}s")


class Pebble:
    """pebble + pebble-challtestsrv on loopback, validating against wharf's fixed ports; with
    dns ("host:port"), pebble resolves there instead and no challtestsrv runs."""

    def __init__(self, d, dns=None):
        self.dir = Path(d)
        self.web, self.websecure = free_port(), free_port()
        self.acme, self.mgmt, self.dns, self.chall = (free_port() for _ in range(4))
        ca = CA(self.dir / "listener", "pebble listener CA")
        crt, key = ca.issue("localhost", sans=["localhost", "127.0.0.1"])
        self.listener_ca = ca.cert
        cfg = self.dir / "pebble.json"
        cfg.write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.acme}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt}",
            "certificate": str(crt), "privateKey": str(key),
            "httpPort": self.web, "tlsPort": self.websecure,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1")
        self.logs = []
        self.chall_proc = None
        if dns is None:
            self.chall_proc = self._spawn(
                ["pebble-challtestsrv", "-http01", "", "-https01", "", "-tlsalpn01", "",
                 "-dns01", f"127.0.0.1:{self.dns}",
                 "-management", f"127.0.0.1:{self.chall}",
                 "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""], "challtestsrv.log", env)
        self.pebble_proc = self._spawn(
            ["pebble", "-config", str(cfg), "-dnsserver", dns or f"127.0.0.1:{self.dns}"],
            "pebble.log", env)
        if self.chall_proc:
            _wait_port(self.chall, self.chall_proc, "pebble-challtestsrv")
        _wait_port(self.acme, self.pebble_proc, "pebble")
        _wait_port(self.mgmt, self.pebble_proc, "pebble (management)")
        self.root = self.dir / "pebble-root.pem"
        r = requests.get(f"https://127.0.0.1:{self.mgmt}/roots/0", verify=str(ca.cert), timeout=5)
        r.raise_for_status()
        self.root.write_text(r.text)
        self.directory = f"https://127.0.0.1:{self.acme}/dir"

    def _spawn(self, argv, log, env):
        f = open(self.dir / log, "wb")
        self.logs.append(f)
        return subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env)

    def stop(self):
        for p in (self.pebble_proc, self.chall_proc):
            if p is None:
                continue
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for f in self.logs:
            f.close()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory):
    require_service("pebble")
    require_service("pebble-challtestsrv")
    p = Pebble(tmp_path_factory.mktemp("pebble"))
    yield p
    p.stop()


# ---- knotd: an authoritative DNS server that takes TSIG-signed updates ----

KNOTD = "/usr/sbin/knotd"
TSIG_SECRET = "Vr8F7W5vJzU0r4Y2m4a9o1QG0mE3w6wT4n8y7fC2Zk0="


def dns_query(server, name, qtype, timeout=1.0):
    """One UDP query: (rcode, [TXT values]) from server (host, port); None without answer."""
    qid = random.randrange(65536)
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    q += struct.pack(">HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, server)
            r, _ = s.recvfrom(4096)
        except OSError:
            return None
    rid, flags, qd, an = struct.unpack(">HHHH", r[:8])
    if rid != qid:
        return None

    def skip_name(i):
        while r[i]:
            if r[i] & 0xC0 == 0xC0:
                return i + 2
            i += r[i] + 1
        return i + 1

    i = 12
    for _ in range(qd):
        i = skip_name(i) + 4
    txt = []
    for _ in range(an):
        i = skip_name(i)
        rtype, _, _, rdlen = struct.unpack(">HHIH", r[i:i + 10])
        i += 10
        if rtype == 16:
            j = i
            while j < i + rdlen:
                txt.append(r[j + 1:j + 1 + r[j]].decode())
                j += 1 + r[j]
        i += rdlen
    return flags & 0xF, txt


class Knot:
    """knotd authoritative for knot.test (A 127.0.0.1 for every name), accepting updates signed
    with the TSIG key acme-key. On port 53 of a loopback address of its own when it can bind
    one (lego asks authoritative nameservers on port 53), else on a free port of 127.0.0.1."""

    def __init__(self, d):
        self.dir = Path(d)
        self.host, self.port = "127.0.0.1", free_port()
        for _ in range(10):
            host = f"127.53.{random.randrange(1, 255)}.{random.randrange(1, 255)}"
            try:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((host, 53))
                self.host, self.port = host, 53
                break
            except OSError:
                continue
        self.authoritative_on_53 = self.port == 53
        zone = self.dir / "knot.test.zone"
        zone.write_text(
            "$ORIGIN knot.test.\n$TTL 60\n"
            "@ SOA ns.knot.test. admin.knot.test. 1 3600 900 604800 5\n"
            f"@ NS ns\nns A {self.host}\n@ A 127.0.0.1\n* A 127.0.0.1\n")
        conf = self.dir / "knot.conf"
        conf.write_text(
            f"server:\n  listen: {self.host}@{self.port}\n  rundir: {self.dir}\n"
            f"control:\n  listen: {self.dir}/knot.sock\n"
            f"database:\n  storage: {self.dir}\n"
            "log:\n  - target: stderr\n    any: info\n"
            "key:\n  - id: acme-key.\n    algorithm: hmac-sha256\n"
            f"    secret: {TSIG_SECRET}\n"
            "acl:\n  - id: update_acl\n    key: acme-key.\n    action: update\n"
            f"zone:\n  - domain: knot.test\n    file: {zone}\n    acl: update_acl\n")
        self.log = open(self.dir / "knotd.log", "wb")
        self.proc = subprocess.Popen([KNOTD, "-c", str(conf)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addr = f"{self.host}:{self.port}"
        deadline = time.monotonic() + 10
        while (dns_query((self.host, self.port), "knot.test", 6, timeout=0.2) or (None,))[0] != 0:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError("knotd did not serve knot.test:\n" +
                                     (self.dir / "knotd.log").read_text()[-3000:])
            time.sleep(0.05)

    def txt(self, name):
        r = dns_query((self.host, self.port), name, 16)
        return r[1] if r else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def knot_pebble(tmp_path_factory):
    require_service("knotd", available=lambda: os.access(KNOTD, os.X_OK),
                    hint="Debian package knot")
    require_service("pebble")
    knot = Knot(tmp_path_factory.mktemp("knot"))
    try:
        p = Pebble(tmp_path_factory.mktemp("pebble-knot"), dns=knot.addr)
    except BaseException:
        knot.stop()
        raise
    yield knot, p
    p.stop()
    knot.stop()


class Runner:
    """Starts wharf on pebble's fixed web/websecure ports, one process at a time."""

    def __init__(self, binary, d, pebble):
        self.binary, self.dir, self.pebble = binary, Path(d), pebble
        self.procs = []
        self.n = 0

    def start(self, resolver, dynamic, extra_env=None):
        self.n += 1
        p = self.pebble
        traefik_port = free_port()
        dyn = self.dir / f"dynamic{self.n}.yml"
        dyn.write_text(yaml.safe_dump(dynamic, sort_keys=False))
        acme = {"email": "ops@example.com", "caServer": p.directory,
                "storage": str(self.dir / "acme.json"), "keyType": "EC256"}
        acme.update(resolver)
        static = {
            "entryPoints": {"web": {"address": f"127.0.0.1:{p.web}"},
                            "websecure": {"address": f"127.0.0.1:{p.websecure}"},
                            "traefik": {"address": f"127.0.0.1:{traefik_port}"}},
            "ping": {},
            "providers": {"file": {"filename": str(dyn)}},
            "certificatesResolvers": {"le": {"acme": acme}},
            "log": {"level": "INFO"},
        }
        cfg = self.dir / f"wharf{self.n}.yml"
        cfg.write_text(yaml.safe_dump(static, sort_keys=False))
        env = dict(os.environ, LEGO_CA_CERTIFICATES=str(p.listener_ca))
        env.update(extra_env or {})
        workdir = self.dir / f"run{self.n}"
        workdir.mkdir()
        w = WharfProcess(self.binary, workdir, cfg,
                         {"web": p.web, "websecure": p.websecure, "traefik": traefik_port},
                         f"http://127.0.0.1:{traefik_port}/ping", env)
        self.procs.append(w)
        w.wait_ready()
        return w

    def stop(self, w):
        w.stop()
        rep = w.sanitizer_report()
        assert rep is None, f"sanitizer report in {w.log_path}:\n{rep}"

    def stop_all(self):
        reports = []
        for w in self.procs:
            w.stop()
            rep = w.sanitizer_report()
            if rep:
                reports.append(f"{w.log_path}:\n{rep}")
        return reports


@pytest.fixture
def acme_wharf(wharf_bin, tmp_path, pebble):
    r = Runner(wharf_bin, tmp_path, pebble)
    yield r
    reports = r.stop_all()
    if reports:
        pytest.fail("sanitizer report in wharf's log:\n" + "\n".join(reports), pytrace=False)


def router(rule, domains=None, name="app"):
    tls = {"certResolver": "le"}
    if domains:
        tls["domains"] = domains
    return {"http": {"routers": {name: {"rule": rule, "entryPoints": ["websecure"],
                                        "service": "noop@internal", "tls": tls}}}}


def served(port, sni, cafile):
    """The DER leaf wharf serves for sni when a client trusting only cafile accepts it for that
    name; None while it does not."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname=sni) as t:
                return t.getpeercert(binary_form=True)
    except (ssl.SSLError, OSError):
        return None


def wait_served(w, sni, cafile, timeout=ISSUE_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        der = served(w.ports["websecure"], sni, cafile)
        if der:
            return der
        if not w.running():
            raise AssertionError(f"wharf exited:\n{w.log_tail()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no certificate for {sni} trusted by {cafile} after "
                                 f"{timeout}s:\n{w.log_tail(60)}")
        time.sleep(0.2)


def stored(path, resolver="le"):
    doc = json.loads(Path(path).read_text())
    return doc[resolver]


def write_acme_json(path, certs):
    """acme.json in Traefik's format, as Traefik writes it (0600); certs: (main, cert PEM,
    key PEM) tuples."""
    doc = {"le": {"Account": None, "Certificates": [{
        "domain": {"main": main},
        "certificate": base64.b64encode(cert_pem).decode(),
        "key": base64.b64encode(key_pem).decode(),
        "Store": "default"} for main, cert_pem, key_pem in certs]}}
    Path(path).write_text(json.dumps(doc, indent=2))
    os.chmod(path, 0o600)


def test_http01_certificate_served_without_restart(acme_wharf, pebble):
    w = acme_wharf.start({"httpChallenge": {"entryPoint": "web"}}, router("Host(`a.test`)"))
    der = wait_served(w, "a.test", pebble.root)
    w.wait_for_log(r'certificate obtained for domains "a\.test"')
    st = stored(acme_wharf.dir / "acme.json")
    assert st["Account"]["Registration"]["uri"].startswith(f"https://127.0.0.1:{pebble.acme}/")
    assert [c["domain"]["main"] for c in st["Certificates"]] == ["a.test"]
    leaf = ssl.PEM_cert_to_DER_cert(
        base64.b64decode(st["Certificates"][0]["certificate"]).decode().split(
            "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    assert leaf == der
    assert stat.S_IMODE(os.stat(acme_wharf.dir / "acme.json").st_mode) == 0o600

    # (d) a restart serves the stored certificate and orders nothing
    acme_wharf.stop(w)
    w2 = acme_wharf.start({"httpChallenge": {"entryPoint": "web"}}, router("Host(`a.test`)"))
    assert wait_served(w2, "a.test", pebble.root, timeout=10) == der
    w2.wait_for_log(r'resolver "le": 1 certificate\(s\) loaded')
    assert "ordering a certificate" not in w2.log()


def test_tls_alpn01(acme_wharf, pebble):
    w = acme_wharf.start({"tlsChallenge": {}}, router("Host(`b.test`) || Host(`c.test`)"))
    der_b = wait_served(w, "b.test", pebble.root)
    assert wait_served(w, "c.test", pebble.root) == der_b  # one certificate, two names
    w.wait_for_log(r'certificate obtained for domains "b\.test,c\.test"')


def _acme_tls_hello_answered(port, sni):
    """True when wharf completes an acme-tls/1 handshake for sni: a TLS-ALPN-01 challenge
    for it is pending."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["acme-tls/1"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
            with ctx.wrap_socket(s, server_hostname=sni) as t:
                return t.selected_alpn_protocol() == "acme-tls/1"
    except (ssl.SSLError, OSError):
        return False


def test_tls_alpn01_stalled_validation_handshake_is_closed_fast(acme_wharf, pebble):
    """HARDENING 45: a TLS-ALPN-01 validation handshake that stalls is closed within about
    2 s (the ordinary handshake deadline is 10 s). To hold a challenge pending for as long as
    the test needs, pebble's validator is sent to 127.0.0.2, where a listener accepts and
    never answers."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.2", pebble.websecure))
    holder.listen(16)
    held = []
    holder.settimeout(0.2)
    stop = [False]

    def hold():
        while not stop[0]:
            try:
                held.append(holder.accept()[0])
            except OSError:
                pass

    th = threading.Thread(target=hold, daemon=True)
    th.start()
    mgmt = f"http://127.0.0.1:{pebble.chall}"
    requests.post(mgmt + "/add-a", json={"host": "slow.test.", "addresses": ["127.0.0.2"]},
                  timeout=5).raise_for_status()
    try:
        w = acme_wharf.start({"tlsChallenge": {}}, router("Host(`slow.test`)"))
        port = w.ports["websecure"]
        deadline = time.monotonic() + ISSUE_TIMEOUT
        while not _acme_tls_hello_answered(port, "slow.test"):
            assert time.monotonic() < deadline, w.log_tail(60)
            time.sleep(0.1)
        # a validator that sends its ClientHello and nothing more
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.set_alpn_protocols(["acme-tls/1"])
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname="slow.test")
        with pytest.raises(ssl.SSLWantReadError):
            obj.do_handshake()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(out.read())
            t0 = time.monotonic()
            got = b""
            try:
                while True:
                    b = s.recv(65536)
                    if not b:
                        break
                    got += b
            except ConnectionResetError:
                pass
            elapsed = time.monotonic() - t0
        assert got, "wharf answered nothing to the validation ClientHello"
        assert elapsed < 6.0, f"stalled validation handshake held {elapsed:.1f}s"
        assert w.running()
    finally:
        stop[0] = True
        requests.post(mgmt + "/clear-a", json={"host": "slow.test."}, timeout=5)
        th.join(timeout=2)
        for c in held:
            c.close()
        holder.close()


EXEC_SCRIPT = """#!/usr/bin/env python3
import json, sys, urllib.request
action, fqdn, value = sys.argv[1], sys.argv[2], sys.argv[3]
path = "/set-txt" if action == "present" else "/clear-txt"
body = {"host": fqdn, "value": value} if action == "present" else {"host": fqdn}
with open(sys.argv[0] + ".calls", "a") as f:
    f.write(action + " " + fqdn + "\\n")
urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%s" + path,
                       data=json.dumps(body).encode(), method="POST"), timeout=5).read()
"""


def test_dns01_wildcard_through_exec(acme_wharf, pebble, tmp_path):
    script = tmp_path / "dns.py"
    script.write_text(EXEC_SCRIPT % pebble.chall)
    script.chmod(0o700)
    w = acme_wharf.start(
        {"dnsChallenge": {"provider": "exec", "resolvers": [f"127.0.0.1:{pebble.dns}"],
                          "propagation": {"disableChecks": True}}},
        router("Host(`x.w.test`)", domains=[{"main": "*.w.test"}]),
        extra_env={"EXEC_PATH": str(script)})
    der = wait_served(w, "x.w.test", pebble.root)
    assert wait_served(w, "other.w.test", pebble.root) == der
    w.wait_for_log(r'certificate obtained for domains "\*\.w\.test"')
    calls = (tmp_path / "dns.py.calls").read_text().split("\n")
    assert "present _acme-challenge.w.test." in calls
    deadline = time.monotonic() + 10  # the cleanup runs after the authorization is valid
    while "cleanup _acme-challenge.w.test." not in calls:
        assert time.monotonic() < deadline, calls
        time.sleep(0.1)
        calls = (tmp_path / "dns.py.calls").read_text().split("\n")


def test_dns01_wildcard_through_rfc2136_and_knot(wharf_bin, tmp_path, knot_pebble):
    """The issue's DNS-01 acceptance: TSIG-signed updates to a real knotd, the propagation
    check asking knot for real, pebble validating through knot, and lego's pause between the
    two challenges of one name (*.knot.test and knot.test share _acme-challenge.knot.test)."""
    knot, peb = knot_pebble
    propagation = {"requireAllRNS": True}
    if not knot.authoritative_on_53:
        # the authoritative nameservers are asked on port 53, which knot could not bind here
        propagation["disableANSChecks"] = True
    runner = Runner(wharf_bin, tmp_path, peb)
    try:
        w = runner.start(
            {"dnsChallenge": {"provider": "rfc2136", "resolvers": [knot.addr],
                              "propagation": propagation}},
            router("Host(`www.knot.test`)",
                   domains=[{"main": "*.knot.test", "sans": ["knot.test"]}]),
            extra_env={"RFC2136_NAMESERVER": knot.addr, "RFC2136_TSIG_KEY": "acme-key",
                       "RFC2136_TSIG_SECRET": TSIG_SECRET,
                       "RFC2136_TSIG_ALGORITHM": "hmac-sha256.",
                       "RFC2136_TTL": "5", "RFC2136_POLLING_INTERVAL": "1",
                       "RFC2136_PROPAGATION_TIMEOUT": "20", "RFC2136_SEQUENCE_INTERVAL": "1"})
        der = wait_served(w, "www.knot.test", peb.root)
        assert wait_served(w, "knot.test", peb.root) == der
        w.wait_for_log(r'certificate obtained for domains "\*\.knot\.test,knot\.test"')
        w.wait_for_log(r"DNS-01 for knot\.test in \d+ ms \(the rfc2136 provider's sequence "
                       r"interval\)")
        # the check ran (and passed: a failed check fails the order)
        w.wait_for_log(r"waiting for the DNS propagation of _acme-challenge\.knot\.test\.")
        st = stored(tmp_path / "acme.json")
        assert st["Certificates"][0]["domain"] == {"main": "*.knot.test", "sans": ["knot.test"]}
        # the records are deleted from the zone once the authorizations are valid
        deadline = time.monotonic() + 10
        while knot.txt("_acme-challenge.knot.test") != []:
            assert time.monotonic() < deadline, knot.txt("_acme-challenge.knot.test")
            time.sleep(0.1)
    finally:
        reports = runner.stop_all()
    assert not reports, "sanitizer report in wharf's log:\n" + "\n".join(reports)


def test_wildcard_without_dns01_is_refused(acme_wharf, pebble):
    w = acme_wharf.start({"httpChallenge": {"entryPoint": "web"}},
                         router("Host(`y.v.test`)", domains=[{"main": "*.v.test"}]))
    w.wait_for_log(r'router "app@file": certificate resolver "le": unable to generate a '
                   r'wildcard certificate for domains "\*\.v\.test": ACME needs a DNSChallenge')
    assert "ordering a certificate" not in w.log()


def short_lived(ca, name, lifetime):
    """A certificate for name signed by ca (tlsutil.CA) valid from an hour ago for lifetime
    from now: (cert PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    ca_key = serialization.load_pem_private_key(Path(ca.key).read_bytes(), None)
    ca_cert = x509.load_pem_x509_certificate(Path(ca.cert).read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + lifetime)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM,
                              serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def test_renewal_when_not_after_enters_the_window(acme_wharf, pebble, tmp_path):
    """The issue's renewal acceptance with a short certificatesDuration: 24 (hours), so the
    window is 6 h (TRAEFIK-COMPAT §6). A stored certificate ending in 3 h is renewed; one
    ending in 2 days is not."""
    ca = CA(tmp_path / "old", "throwaway CA")
    due_crt, due_key = short_lived(ca, "e.test", datetime.timedelta(hours=3))
    kept_crt, kept_key = short_lived(ca, "k.test", datetime.timedelta(days=2))
    write_acme_json(acme_wharf.dir / "acme.json", [("e.test", due_crt, due_key),
                                                   ("k.test", kept_crt, kept_key)])
    dyn = router("Host(`e.test`)", name="due")
    dyn["http"]["routers"].update(router("Host(`k.test`)", name="kept")["http"]["routers"])
    w = acme_wharf.start({"httpChallenge": {"entryPoint": "web"}, "certificatesDuration": 24}, dyn)
    # from the first handshake on, e.test has a certificate: the stored one or its renewal
    first = served(w.ports["websecure"], "e.test", ca.cert) or served(
        w.ports["websecure"], "e.test", pebble.root)
    assert first is not None, w.log_tail()
    kept_der = ssl.PEM_cert_to_DER_cert(kept_crt.decode())
    assert served(w.ports["websecure"], "k.test", ca.cert) == kept_der
    w.wait_for_log(r'the certificate for domain "e\.test" expires on .*: renewal queued')
    wait_served(w, "e.test", pebble.root)
    w.wait_for_log(r'renewing a certificate for domains "e\.test"')
    w.wait_for_log(r'certificate obtained for domains "e\.test"')
    # the one outside the window: still the stored certificate, never ordered
    assert served(w.ports["websecure"], "k.test", ca.cert) == kept_der
    assert 'domain "k.test"' not in w.log()
    assert 'domains "k.test"' not in w.log()
    st = stored(acme_wharf.dir / "acme.json")
    by_main = {c["domain"]["main"]: c for c in st["Certificates"]}
    assert sorted(by_main) == ["e.test", "k.test"]  # replaced, not added
    assert base64.b64decode(by_main["e.test"]["certificate"]) != due_crt
    assert base64.b64decode(by_main["k.test"]["certificate"]) == kept_crt


def test_traefik_acme_json_served_without_ca(acme_wharf, pebble, tmp_path):
    ca = CA(tmp_path / "own", "test CA")
    crt, key = ca.issue("f.test", days=60)
    write_acme_json(acme_wharf.dir / "acme.json",
                    [("f.test", crt.read_bytes(), key.read_bytes())])
    before = (acme_wharf.dir / "acme.json").read_bytes()
    closed = free_port()
    w = acme_wharf.start({"httpChallenge": {"entryPoint": "web"},
                          "caServer": f"https://127.0.0.1:{closed}/dir"},
                         router("Host(`f.test`)"))
    assert wait_served(w, "f.test", ca.cert, timeout=10)
    assert "ordering a certificate" not in w.log()
    assert (acme_wharf.dir / "acme.json").read_bytes() == before


def test_corrupt_acme_json_is_never_overwritten(acme_wharf, pebble):
    path = acme_wharf.dir / "acme.json"
    path.write_bytes(b'{"le": {"Account": 12, "Certificates": [\n')
    os.chmod(path, 0o600)
    before = path.read_bytes()
    w = acme_wharf.start({"httpChallenge": {"entryPoint": "web"}}, router("Host(`g.test`)"))
    w.wait_for_log(r"acme: .*acme\.json: corrupt: .*the file is left as it is")
    wait_served(w, "g.test", pebble.root)
    w.wait_for_log(r'certificate for domains "g\.test" not saved: .* served from memory only')
    assert path.read_bytes() == before
