"""Middlewares that finish later (the data plane's suspend/resume, lib/http/exchange.h): a
bcrypt verification runs on the thread pool, so one worker keeps serving other requests while
it runs, and a client that goes away meanwhile leaves nothing behind."""
import base64
import socket
import subprocess
import threading

import pytest


@pytest.fixture
def env(wharf, backends, tmp_path):
    b = backends.http("secret")
    # cost 14: a verification takes long enough to overlap other requests
    line = subprocess.run(["htpasswd", "-nbB", "-C", "14", "alice", "pw"], capture_output=True,
                          text=True, check=True).stdout.strip()
    w = wharf.start({"entryPoints": {"web": {}}, "wharf": {"workers": 1}}, dynamic={"http": {
        "routers": {
            "auth": {"rule": "Host(`auth.example`)", "service": "s", "middlewares": ["auth"]},
            "open": {"rule": "Host(`open.example`)", "service": "s"},
        },
        "services": {"s": {"loadBalancer": {"servers": [{"url": b.url}]}}},
        "middlewares": {"auth": {"basicAuth": {"users": [line]}}},
    }})
    return w


def auth_header(user, pw):
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_bcrypt_does_not_hold_up_the_worker(env):
    w = env
    done = {}

    def slow():
        r = w.http.get(w.url("/echo", "web"), timeout=60,
                       headers={"Host": "auth.example", "Authorization": auth_header("alice", "pw")})
        done["auth"] = r.status_code

    t = threading.Thread(target=slow)
    t.start()
    # while the hash is being checked on the thread pool, the only worker answers others
    opens = [w.http.get(w.url("/echo", "web"), headers={"Host": "open.example"}, timeout=30)
             for _ in range(5)]
    assert [r.status_code for r in opens] == [200] * 5
    assert "auth" not in done, "the other requests waited for the bcrypt verification"
    t.join(60)
    assert done["auth"] == 200


def test_client_gone_during_verification(env):
    w = env
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", w.ports["web"])) as s:
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: auth.example\r\nAuthorization: "
                      + auth_header("alice", "wrong").encode() + b"\r\n\r\n")
    # nothing crashed, the worker still serves; the sanitizers report at teardown
    r = w.http.get(w.url("/echo", "web"), timeout=60,
                   headers={"Host": "auth.example", "Authorization": auth_header("alice", "pw")})
    assert r.status_code == 200
    r = w.http.get(w.url("/echo", "web"), timeout=60,
                   headers={"Host": "auth.example", "Authorization": auth_header("bob", "pw")})
    assert r.status_code == 401
