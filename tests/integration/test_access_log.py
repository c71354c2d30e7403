"""Traefik's access log through the real binary (TRAEFIK-COMPAT §9 "Access log", issue 7
point 3): the `common`, `genericCLF` and `json` line formats matched strictly, the status-code
and duration filters, header keep/redact (credentials always REDACTED), SIGUSR1 reopening the
file after a rotation, a 404 that no router matched, and ClientHost taken from the socket
unless the entry point trusts the peer's X-Forwarded-For.

Every test sends requests carrying a unique token in the path and looks for the lines that
carry it, so the probe requests of wait_routed() never confuse a check."""

import json
import os
import re
import signal
import uuid
from datetime import datetime

from backends import lb_service, wait_routed, wait_until

HOST = "echo.example"
MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
CLF_TIME = r"\[\d{2}/" + MONTH + r"/\d{4}:\d{2}:\d{2}:\d{2} \+0000\]"


def token():
    return uuid.uuid4().hex[:12]


def start(wharf, backends, tmp_path, access_log, web=None):
    """wharf with entry point `web`, a router echo@file for Host echo.example and the
    given accessLog section (filePath defaults to tmp_path/access.log)."""
    bk = backends.http("echo")
    access_log = dict(access_log)
    access_log.setdefault("filePath", str(tmp_path / "access.log"))
    static = {"entryPoints": {"web": dict(web or {})}, "accessLog": access_log}
    dynamic = {"http": {
        "routers": {"echo": {"rule": f"Host(`{HOST}`)", "service": "echo",
                             "entryPoints": ["web"]}},
        "services": {"echo": lb_service(bk.url)},
    }}
    w = wharf.start(static, dynamic)
    assert wait_routed(w, HOST) == 200
    return w, bk, access_log["filePath"]


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


def lines_with(path, tok, n=1, timeout=10.0):
    """Polls the file until at least n lines contain tok; returns them."""
    found = []

    def ok():
        found[:] = [ln for ln in read(path).splitlines() if tok in ln]
        return len(found) >= n

    if not wait_until(ok, timeout, 0.05):
        raise AssertionError(f"{n} line(s) with {tok!r} not in {path}:\n{read(path)[-3000:]}")
    return found


def get(w, path, host=HOST, **kw):
    headers = {"Host": host, **kw.pop("headers", {})}
    return w.http.get(w.url(path, "web"), headers=headers, timeout=5, **kw)


# ---- formats ---------------------------------------------------------------------------------


def test_common_format(wharf, backends, tmp_path):
    w, bk, path = start(wharf, backends, tmp_path, {"format": "common"})
    t = token()
    r1 = get(w, f"/echo?id={t}&n=1", headers={"User-Agent": "alog-test/1", "Referer": "http://r/"})
    r2 = get(w, f"/echo?id={t}&n=2")
    assert r1.status_code == r2.status_code == 200
    rx = re.compile(
        r'^127\.0\.0\.1 - - ' + CLF_TIME + r' "GET /echo\?id=' + t + r'&n=(\d) HTTP/1\.1" '
        r'200 (\d+) "-" "-" (\d+) "echo@file" "' + re.escape(bk.url) + r'" (\d+)ms$')
    got = {}
    for ln in lines_with(path, t, 2):
        m = rx.match(ln)
        assert m, f"line does not match the common format: {ln!r}"
        got[m.group(1)] = m
    # the body size sent, and Traefik's running request count
    assert int(got["1"].group(2)) == len(r1.content)
    assert int(got["2"].group(2)) == len(r2.content)
    assert int(got["2"].group(3)) > int(got["1"].group(3))
    # headers are dropped by default: neither the User-Agent nor the Referer shows
    assert "alog-test/1" not in read(path)


def test_common_404_without_router(wharf, backends, tmp_path):
    w, _, path = start(wharf, backends, tmp_path, {})  # format defaults to common
    t = token()
    r = get(w, f"/nope-{t}", host="nosuch.example")
    assert r.status_code == 404
    (ln,) = lines_with(path, t)
    assert re.match(
        r'^127\.0\.0\.1 - - ' + CLF_TIME + r' "GET /nope-' + t + r' HTTP/1\.1" 404 '
        + str(len(r.content)) + r' "-" "-" \d+ "-" "-" \d+ms$', ln), ln


def test_generic_clf_format(wharf, backends, tmp_path):
    w, _, path = start(wharf, backends, tmp_path, {
        "format": "genericCLF",
        "fields": {"headers": {"names": {"User-Agent": "keep", "Referer": "keep"}}},
    })
    t = token()
    r = w.http.post(w.url(f"/echo?id={t}", "web"), data=b"hello",
                    headers={"Host": HOST, "User-Agent": "alog-test/2"}, timeout=5)
    assert r.status_code == 200
    (ln,) = lines_with(path, t)
    assert re.match(
        r'^127\.0\.0\.1 - - ' + CLF_TIME + r' "POST /echo\?id=' + t + r' HTTP/1\.1" 200 '
        + str(len(r.content)) + r' "-" "alog-test/2"$', ln), ln


def test_json_format_fields_and_headers(wharf, backends, tmp_path):
    w, bk, path = start(wharf, backends, tmp_path, {
        "format": "json",
        "fields": {"headers": {"defaultMode": "drop", "names": {
            "User-Agent": "keep", "X-Secret": "redact", "Authorization": "keep",
            "Cookie": "keep", "Content-Type": "keep"}}},
    })
    t = token()
    before = datetime.now().astimezone()
    r = get(w, f"/echo?id={t}", headers={
        "User-Agent": "alog-test/3", "X-Secret": "hunter2", "Authorization": "Basic YWxpY2U6cHc=",
        "Cookie": "sid=s3ss10n"})
    assert r.status_code == 200
    (ln,) = lines_with(path, t)
    e = json.loads(ln)
    assert e["level"] == "info" and e["msg"] == ""
    assert e["ClientHost"] == "127.0.0.1"
    assert re.fullmatch(r"\d+", e["ClientPort"])
    assert e["ClientAddr"] == f"127.0.0.1:{e['ClientPort']}"
    assert e["ClientUsername"] == "-"
    assert e["RequestMethod"] == "GET"
    assert e["RequestPath"] == f"/echo?id={t}"
    assert e["RequestProtocol"] == "HTTP/1.1"
    assert e["RequestScheme"] == "http"
    assert e["RequestAddr"] == HOST and e["RequestHost"] == HOST and e["RequestPort"] == "-"
    assert e["RequestContentSize"] == 0
    assert e["DownstreamStatus"] == 200 and e["OriginStatus"] == 200
    assert e["DownstreamContentSize"] == len(r.content)
    assert e["OriginContentSize"] == len(r.content)
    assert e["RouterName"] == "echo@file" and e["ServiceName"] == "echo@file"
    assert e["ServiceURL"] == bk.url
    assert e["ServiceAddr"] == bk.url.split("://", 1)[1]
    assert e["entryPointName"] == "web"
    assert e["RetryAttempts"] == 0
    assert isinstance(e["RequestCount"], int) and e["RequestCount"] > 0
    # durations in nanoseconds, the origin's part of the total
    assert isinstance(e["Duration"], int) and e["Duration"] > 0
    assert 0 < e["OriginDuration"] <= e["Duration"]
    assert e["Overhead"] == e["Duration"] - e["OriginDuration"]
    # StartUTC in UTC, StartLocal the same instant; RFC 3339 as Go prints them
    rfc3339nano = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)"
    assert re.fullmatch(rfc3339nano, e["StartUTC"]) and e["StartUTC"].endswith("Z")
    assert re.fullmatch(rfc3339nano, e["StartLocal"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", e["time"])
    start_utc = datetime.fromisoformat(e["StartUTC"][:19] + "+00:00")
    assert abs((start_utc - before).total_seconds()) < 30
    # headers: kept, redacted, and credentials never written even when kept
    assert e["request_User-Agent"] == "alog-test/3"
    assert e["request_X-Secret"] == "REDACTED"
    assert e["request_Authorization"] == "REDACTED"
    assert e["request_Cookie"] == "REDACTED"
    assert "request_Accept" not in e  # defaultMode drop
    assert e["downstream_Content-Type"] == r.headers["Content-Type"]
    text = read(path)
    for secret in ("hunter2", "YWxpY2U6cHc", "s3ss10n"):
        assert secret not in text


# ---- filters ---------------------------------------------------------------------------------


def test_filter_status_codes(wharf, backends, tmp_path):
    w, _, path = start(wharf, backends, tmp_path, {"filters": {"statusCodes": ["404"]}})
    t = token()
    # one connection, so the lines are written in the order of the requests
    assert get(w, f"/echo?id={t}-ok").status_code == 200
    assert get(w, f"/status/404?id={t}-nf").status_code == 404
    assert get(w, f"/echo?id={t}-ok2").status_code == 200
    assert get(w, f"/nope?id={t}-nf2", host="nosuch.example").status_code == 404
    lines_with(path, f"{t}-nf2")
    logged = [ln for ln in read(path).splitlines() if t in ln]
    assert len(logged) == 2, logged
    assert all('" 404 ' in ln for ln in logged), logged


def test_filter_min_duration(wharf, backends, tmp_path):
    # a wide margin on both sides: a fast request on a loaded CI machine stays far under the
    # bound, a slow one far over it
    w, _, path = start(wharf, backends, tmp_path, {"filters": {"minDuration": "500ms"}})
    t = token()
    assert get(w, f"/echo?id={t}-fast").status_code == 200
    assert get(w, f"/slow-head/1.0?id={t}-slow").status_code == 200
    assert get(w, f"/echo?id={t}-fast2").status_code == 200
    assert get(w, f"/slow-head/1.0?id={t}-slow2").status_code == 200
    lines_with(path, f"{t}-slow2")
    logged = [ln for ln in read(path).splitlines() if t in ln]
    assert len(logged) == 2 and all("-slow" in ln for ln in logged), logged
    for ln in logged:
        assert int(re.search(r" (\d+)ms$", ln).group(1)) >= 500


# ---- rotation --------------------------------------------------------------------------------


def test_sigusr1_reopens_after_rotation(wharf, backends, tmp_path):
    w, _, path = start(wharf, backends, tmp_path, {"format": "common"})
    t = token()
    assert get(w, f"/echo?id={t}-before").status_code == 200
    lines_with(path, f"{t}-before")
    rotated = path + ".1"
    os.rename(path, rotated)
    w.proc.send_signal(signal.SIGUSR1)
    # the signal is handled asynchronously: keep sending until a line lands in the new file
    n = 0

    def in_new_file():
        nonlocal n
        n += 1
        assert get(w, f"/echo?id={t}-after{n}").status_code == 200
        return f"{t}-after" in read(path)

    assert wait_until(in_new_file, 10.0, 0.1), f"no line in the reopened {path}"
    assert f"{t}-before" in read(rotated)
    assert f"{t}-before" not in read(path)
    # each line is whole in exactly one of the two files
    for ln in (read(path) + read(rotated)).splitlines():
        assert re.match(r"^\S+ - - " + CLF_TIME + " \"", ln), ln


# ---- client address --------------------------------------------------------------------------


def test_client_host_from_socket_when_untrusted(wharf, backends, tmp_path):
    w, _, path = start(wharf, backends, tmp_path, {"format": "json"})
    t = token()
    assert get(w, f"/echo?id={t}", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    (ln,) = lines_with(path, t)
    assert json.loads(ln)["ClientHost"] == "127.0.0.1"


def test_client_host_forwarded_when_trusted(wharf, backends, tmp_path):
    w, _, path = start(wharf, backends, tmp_path, {"format": "common"},
                       web={"forwardedHeaders": {"trustedIPs": ["127.0.0.1"]}})
    t = token()
    assert get(w, f"/echo?id={t}", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 200
    (ln,) = lines_with(path, t)
    assert ln.startswith("203.0.113.7 - - ["), ln


def test_stdout_when_no_file_path(wharf, backends, tmp_path):
    bk = backends.http("echo")
    static = {"entryPoints": {"web": {}}, "accessLog": {}}
    dynamic = {"http": {
        "routers": {"echo": {"rule": f"Host(`{HOST}`)", "service": "echo"}},
        "services": {"echo": lb_service(bk.url)},
    }}
    w = wharf.start(static, dynamic)
    assert wait_routed(w, HOST) == 200
    t = token()
    assert get(w, f"/echo?id={t}").status_code == 200
    m = w.wait_for_log(r'(?m)^127\.0\.0\.1 - - ' + CLF_TIME + r' "GET /echo\?id=' + t
                       + r' HTTP/1\.1" 200 \d+ "-" "-" \d+ "echo@file" "[^"]+" \d+ms$')
    assert m


def test_buffered_lines_reach_the_file(wharf, backends, tmp_path):
    # fewer lines than bufferingSize: the workers' periodic tick writes them anyway
    w, _, path = start(wharf, backends, tmp_path, {"format": "common", "bufferingSize": 50})
    t = token()
    for i in range(3):
        assert get(w, f"/echo?id={t}-{i}").status_code == 200
    lines = lines_with(path, t, 3)
    assert all(re.match(r'^127\.0\.0\.1 - - ' + CLF_TIME + ' "GET /echo', ln) for ln in lines)


def test_internal_services_only_with_add_internals(wharf, backends, tmp_path):
    for add in (False, True):
        path = tmp_path / f"access-{add}.log"
        w = wharf.start({"entryPoints": {"web": {}}, "ping": {"entryPoint": "web"},
                         "accessLog": {"filePath": str(path), "addInternals": add}},
                        name=f"internals-{add}")
        t = token()
        assert w.http.get(w.url(f"/ping?id={t}", "web"), timeout=5).status_code == 200
        # an ordinary 404 afterwards on the same connection marks the point to look at
        assert w.http.get(w.url(f"/nope-{t}", "web"), timeout=5).status_code == 404
        lines_with(str(path), f"/nope-{t}")
        ping = [ln for ln in read(str(path)).splitlines() if f"/ping?id={t}" in ln]
        if add:
            assert len(ping) == 1 and '"ping@internal"' in ping[0], ping
        else:
            assert ping == []


# ---- TLS fields ------------------------------------------------------------------------------


def test_json_tls_fields_with_a_client_certificate(wharf, backends, tmp_path):
    """TLSVersion, TLSCipher and, with mutual TLS, TLSClientSubject (RFC 2253, as Go prints a
    certificate subject); a plain HTTP request has none of them."""
    from tlsutil import CA, client_context, https_get

    ca = CA(tmp_path / "ca", name="alog CA")
    srv_cert, srv_key = ca.issue(HOST)
    cli_cert, cli_key = ca.issue("alog-client", client=True)
    bk = backends.http("echo")
    log = tmp_path / "access.log"
    static = {"entryPoints": {"web": {}, "websecure": {}},
              "accessLog": {"format": "json", "filePath": str(log)}}
    route = {"rule": f"Host(`{HOST}`)", "service": "echo"}
    dynamic = {
        "http": {"routers": {"plain": dict(route, entryPoints=["web"]),
                             "tls": dict(route, entryPoints=["websecure"],
                                         tls={"options": "mtls"})},
                 "services": {"echo": lb_service(bk.url)}},
        "tls": {"certificates": [{"certFile": str(srv_cert), "keyFile": str(srv_key)}],
                "options": {"mtls": {"clientAuth": {
                    "caFiles": [str(ca.cert)], "clientAuthType": "RequireAndVerifyClientCert"}}}},
    }
    w = wharf.start(static, dynamic)
    wait_routed(w, HOST)
    ctx = client_context(ca=str(ca.cert), cert=str(cli_cert), key=str(cli_key))
    t = token()

    def served():
        try:
            return https_get(w.ports["websecure"], HOST, path=f"/echo?id={t}", ctx=ctx).status == 200
        except OSError:
            return False

    assert wait_until(served, 10, 0.1)
    e = json.loads(lines_with(log, t)[0])
    assert e["TLSClientSubject"] == "CN=alog-client"
    assert e["TLSVersion"] == "1.3"
    assert e["TLSCipher"].startswith("TLS_")
    assert e["RequestScheme"] == "https"
    t2 = token()
    assert get(w, f"/echo?id={t2}").status_code == 200
    e = json.loads(lines_with(log, t2)[0])
    assert "TLSClientSubject" not in e and "TLSVersion" not in e and "TLSCipher" not in e
