"""The application log through the real binary (issue 7 point 4; Traefik's `log` section):
`level` filters lines (DEBUG shows debug lines, ERROR hides info lines), `format: json`
writes one JSON object per line with Traefik v3's (zerolog's) level/message/time fields,
`filePath` sends the log to that file instead of the standard streams, and SIGUSR1 reopens
the file after a rotation.

A debug line is provoked on demand with a malformed PROXY protocol header on an entry point
that trusts 127.0.0.1; an info line with SIGHUP ("SIGHUP: reloading file configuration");
an error line with SIGHUP after breaking the file provider's file."""

import json
import os
import re
import signal
import socket

from backends import wait_until

COMMON_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (TRC|DBG|INF|WRN|ERR|FTL|PNC) \S")
DYNAMIC = {"http": {"routers": {"r": {"rule": "Host(`a.example`)", "service": "noop@internal"}}}}


def start(wharf, log):
    static = {
        "entryPoints": {"web": {}, "pp": {"proxyProtocol": {"trustedIPs": ["127.0.0.1"]}}},
        "log": log,
    }
    return wharf.start(static, DYNAMIC)


def bad_proxy_header(w):
    """A connection that sends a malformed PROXY header (logged at DEBUG, then closed)."""
    with socket.create_connection(("127.0.0.1", w.ports["pp"]), timeout=5) as s:
        s.sendall(b"PROXY NONSENSE\r\n")
        try:
            s.recv(100)
        except OSError:
            pass


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def poll(pred, what, timeout=10.0, interval=0.05):
    assert wait_until(pred, timeout, interval), what


def test_level_debug_shows_debug_lines(wharf):
    w = start(wharf, {"level": "DEBUG"})
    bad_proxy_header(w)
    m = w.wait_for_log(r"(?m)^.* DBG entry point pp: malformed PROXY protocol header$")
    assert COMMON_LINE.match(m.group(0)), m.group(0)


def test_level_error_hides_info_and_debug(wharf, tmp_path):
    w = start(wharf, {"level": "ERROR"})
    bad_proxy_header(w)
    w.proc.send_signal(signal.SIGHUP)  # an INFO line at INFO level
    # now an error: the dynamic file becomes unreadable YAML, then reload
    (tmp_path / "traefik.dynamic.yml").write_text("http: [unclosed\n")
    w.proc.send_signal(signal.SIGHUP)
    w.wait_for_log(r"(?m)^\S+ ERR .*file provider")
    log = w.log()
    lines = [ln for ln in log.splitlines() if ln.strip()]
    assert lines and all(COMMON_LINE.match(ln) for ln in lines), log
    assert not re.search(r"(?m)^\S+ (INF|DBG|TRC) ", log), log
    assert "listening on" not in log  # the start-up INFO lines are hidden too


def test_json_format(wharf):
    w = start(wharf, {"level": "DEBUG", "format": "json"})
    bad_proxy_header(w)
    w.wait_for_log(r"malformed PROXY protocol header")
    lines = [ln for ln in w.log().splitlines() if ln.strip()]
    entries = [json.loads(ln) for ln in lines]  # every line is one JSON object
    for e in entries:
        assert set(e) >= {"level", "time", "message"}, e
        assert e["level"] in {"trace", "debug", "info", "warn", "error", "fatal", "panic"}, e
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)", e["time"]), e
    msgs = {(e["level"], e["message"]) for e in entries}
    assert ("debug", "entry point pp: malformed PROXY protocol header") in msgs, msgs
    assert any(lv == "info" and re.fullmatch(r'entry point "web" listening on 127\.0\.0\.1:\d+', m)
               for lv, m in msgs), msgs


def test_file_path(wharf, tmp_path):
    path = tmp_path / "app" / "wharf-app.log"
    path.parent.mkdir()
    w = start(wharf, {"level": "INFO", "filePath": str(path)})
    poll(lambda: 'entry point "web" listening on' in read(path), f"no start-up line in {path}")
    for ln in read(path).splitlines():
        assert COMMON_LINE.match(ln), ln
    # the standard streams no longer carry the log
    assert "listening on" not in w.log()


def test_sigusr1_reopens_file(wharf, tmp_path):
    path = str(tmp_path / "wharf-app.log")
    w = start(wharf, {"level": "INFO", "filePath": path})
    poll(lambda: "listening on" in read(path), f"no start-up line in {path}")
    rotated = path + ".1"
    os.rename(path, rotated)
    w.proc.send_signal(signal.SIGUSR1)

    # signals are handled asynchronously: SIGHUP logs an INFO line each time; keep sending
    # until one lands in a new file of the same name
    def reopened():
        w.proc.send_signal(signal.SIGHUP)
        return "SIGHUP: reloading file configuration" in read(path)

    poll(reopened, f"{path} was not reopened after SIGUSR1", interval=0.2)
    assert "listening on" in read(rotated)
    assert "listening on" not in read(path)
    assert w.running()
