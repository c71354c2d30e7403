"""The basicAuth middleware through the real binary (TRAEFIK-COMPAT §4 "basicAuth"): users made
by Apache's `htpasswd` with bcrypt (-B), MD5 apr1 (-m) and SHA-1 (-s) are let through, inline
and from a usersFile (comments and blank lines ignored); everything else gets Traefik's 401
with `WWW-Authenticate: Basic realm="..."` and never reaches the backend; removeHeader and
headerField change what the backend sees; a usersFile that cannot be read fails closed. The
API and the log never show a password hash."""

import base64
import json
import shutil
import subprocess

import pytest

from backends import RawConn, lb_service, wait_routed
from conftest import require_service

USERS = {  # name -> (htpasswd flag, password)
    "bea": ("-B", "bcrypt pass"),
    "max": ("-m", "md5:pass"),
    "sam": ("-s", "sha-pass"),
}


def htpasswd_line(flag, user, password):
    out = subprocess.run(["htpasswd", "-nb", flag, user, password], check=True,
                         capture_output=True, text=True).stdout
    return out.strip()


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def env(module_wharf, module_backends, tmp_path_factory):
    require_service("htpasswd", hint="apt-get install apache2-utils")
    bk = module_backends.http("echo")
    inline = [htpasswd_line(flag, u, pw) for u, (flag, pw) in USERS.items()]
    hashes = [line.split(":", 1)[1] for line in inline]

    d = tmp_path_factory.mktemp("users")
    users_file = d / "users"
    subprocess.run(["htpasswd", "-c", "-b", "-B", str(users_file), "fred", "file pass"],
                   check=True, capture_output=True)
    subprocess.run(["htpasswd", "-b", "-m", str(users_file), "gina", "gina pass"],
                   check=True, capture_output=True)
    # comments, blank lines and a commented-out user, as people edit these files
    hidden = htpasswd_line("-s", "hal", "hal pass")
    content = users_file.read_text()
    users_file.write_text(f"# managed by hand\n\n{content}\n   \n# {hidden}\n")
    hashes += [line.split(":", 1)[1] for line in content.splitlines() if line]
    hashes.append(hidden.split(":", 1)[1])

    middlewares = {
        "auth": {"basicAuth": {"users": inline}},
        "authfile": {"basicAuth": {"usersFile": str(users_file), "realm": "Files",
                                   "removeHeader": True, "headerField": "X-WebAuth-User"}},
        "authmissing": {"basicAuth": {"usersFile": str(d / "does-not-exist"),
                                      "users": inline[:1]}},
    }

    def r(host, mw):
        return {"rule": f"Host(`{host}`)", "service": "echo", "entryPoints": ["web"],
                "middlewares": [mw]}

    dynamic = {"http": {
        "routers": {"auth": r("auth.example", "auth"), "authfile": r("file.example", "authfile"),
                    "authmissing": r("missing.example", "authmissing")},
        "middlewares": middlewares,
        "services": {"echo": lb_service(bk.url)},
    }}
    w = module_wharf.start({"api": {"insecure": True}, "ping": {}, "entryPoints": {"web": {}}},
                           dynamic=dynamic)
    for host in ("auth.example", "file.example", "missing.example"):
        wait_routed(w, host)
    return {"w": w, "bk": bk, "hashes": hashes}


def send(env, host, authorization=None, target="/echo"):
    headers = [("Authorization", authorization)] if authorization is not None else []
    with RawConn(env["w"].ports["web"]) as c:
        c.request("GET", target, host=host, headers=headers)
        r = c.read_response()
        assert r is not None
        return r


def received(r):
    body = json.loads(r.body)
    return {k.lower(): v for k, v in body["headers"]}


def assert_401(r, realm="traefik"):
    assert r.status == 401, r
    assert r.header("WWW-Authenticate") == f'Basic realm="{realm}"'
    assert r.header("Content-Type") == "text/plain"
    assert r.body == b"401 Unauthorized\n"


def not_forwarded(env, marker):
    return not env["bk"].with_target(marker)


# ---- accepted -------------------------------------------------------------------------------

@pytest.mark.parametrize("user", sorted(USERS))
def test_htpasswd_users_accepted(env, user):
    flag, pw = USERS[user]
    r = send(env, "auth.example", basic(user, pw), target=f"/echo?ok={user}")
    assert r.status == 200, r
    # without removeHeader the backend still gets the credentials, as in Traefik
    assert received(r)["authorization"] == basic(user, pw)


def test_users_file_accepted_with_header_field(env):
    for user, pw in (("fred", "file pass"), ("gina", "gina pass")):
        r = send(env, "file.example", basic(user, pw))
        assert r.status == 200, r
        h = received(r)
        assert h["x-webauth-user"] == user
        assert "authorization" not in h  # removeHeader


def test_scheme_is_case_insensitive(env):
    flag, pw = USERS["bea"]
    r = send(env, "auth.example", basic("bea", pw).replace("Basic", "basic"))
    assert r.status == 200, r


# ---- refused --------------------------------------------------------------------------------

REFUSED = [
    ("wrong-password", basic("bea", "bcrypt pasS")),
    ("wrong-md5", basic("max", "md5")),
    ("wrong-sha", basic("sam", "sha-pass ")),
    ("unknown-user", basic("nobody", "bcrypt pass")),
    ("empty-user", basic("", "bcrypt pass")),
    ("no-header", None),
    ("bearer", "Bearer " + base64.b64encode(b"bea:bcrypt pass").decode()),
    ("bad-base64", "Basic !!!notbase64!!!"),
    ("no-colon", "Basic " + base64.b64encode(b"bea").decode()),
    ("hash-as-password", None),  # filled in the test: the stored hash itself
]


@pytest.mark.parametrize("name,authorization", REFUSED, ids=[n for n, _ in REFUSED])
def test_refused_401(env, name, authorization):
    if name == "hash-as-password":
        authorization = basic("bea", env["hashes"][0])
    r = send(env, "auth.example", authorization, target=f"/echo?refused={name}")
    assert_401(r)
    assert not_forwarded(env, f"refused={name}")


def test_users_file_refusals(env):
    # commented-out user, a user of the other middleware, wrong password
    for i, (user, pw) in enumerate((("hal", "hal pass"), ("bea", "bcrypt pass"),
                                    ("fred", "gina pass"))):
        r = send(env, "file.example", basic(user, pw), target=f"/echo?filerefused={i}")
        assert_401(r, realm="Files")
        assert not_forwarded(env, f"filerefused={i}")


def test_missing_users_file_fails_closed(env):
    flag, pw = USERS["bea"]  # valid inline user of that middleware
    for i, auth in enumerate((basic("bea", pw), None, basic("x", "y"))):
        r = send(env, "missing.example", auth, target=f"/echo?missing={i}")
        assert r.status == 500, r
        assert not_forwarded(env, f"missing={i}")


def test_keep_alive_connection_goes_on_after_a_refused_bcrypt_check(env):
    """A 401 decided after the bcrypt check on the thread pool is a local answer made outside
    the parser: the connection must still read the next request (a browser retries with the
    right password on the same connection). It used to hang."""
    with RawConn(env["w"].ports["web"], timeout=5) as c:
        for pw, want in (("wrong one", 401), ("other wrong", 401), ("bcrypt pass", 200)):
            c.request("GET", "/echo?ka=" + str(want), host="auth.example",
                      headers=[("Authorization", basic("bea", pw))])
            r = c.read_response()
            assert r is not None and r.status == want, (pw, r)


# ---- secrets --------------------------------------------------------------------------------

def test_api_never_shows_hashes(env):
    w = env["w"]
    bodies = []
    for path in ("/api/http/middlewares", "/api/http/middlewares/auth@file",
                 "/api/http/middlewares/authfile@file", "/api/rawdata"):
        r = w.get(path)
        assert r.status_code == 200, (path, r.status_code)
        bodies.append(r.text)
    listing = json.loads(bodies[0])
    auth = next(m for m in listing if m["name"] == "auth@file")
    assert auth["type"] == "basicauth"
    assert "basicAuth" in auth
    for text in bodies:
        for h in env["hashes"]:
            assert h not in text
        for marker in ("$2y$", "$apr1$", "{SHA}"):
            assert marker not in text


def test_log_never_shows_hashes_or_passwords(env):
    # after every test above has run against this wharf (module scope)
    log = env["w"].log()
    for h in env["hashes"]:
        assert h not in log
    for marker in ("$2y$", "$apr1$", "{SHA}", "bcrypt pass", "md5:pass"):
        assert marker not in log
    assert "does-not-exist" in log  # the missing users file was reported, by path
