"""The file provider through the real binary: hot reload of a watched file, and a broken file
keeping the previous configuration serving (issue 2 acceptance)."""

import time

import yaml


def routers(w):
    r = w.get("/api/http/routers")
    assert r.status_code == 200
    return {rt["name"]: rt for rt in r.json()}


def dyn(*names):
    return {
        "http": {
            "routers": {
                n: {"rule": f"Host(`{n}.example`)", "service": "svc"} for n in names
            },
            "services": {"svc": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:9"}]}}},
        }
    }


def wait_until(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_editing_the_file_changes_routers_within_2s(wharf):
    w = wharf.start({"api": {"insecure": True}, "entryPoints": {"web": {}}}, dynamic=dyn("one"))
    assert wait_until(lambda: "one@file" in routers(w), 5)
    # Let the provider throttle window of the first configuration pass, as in production
    # where files are edited long after start.
    time.sleep(2.2)
    path = w.workdir / "traefik.dynamic.yml"
    path.write_text(yaml.safe_dump(dyn("one", "two")))
    t0 = time.monotonic()
    assert wait_until(lambda: "two@file" in routers(w), 2.0), w.log_tail()
    assert time.monotonic() - t0 < 2.0
    # Removing a router removes it too.
    time.sleep(2.2)
    path.write_text(yaml.safe_dump(dyn("two")))
    assert wait_until(lambda: "one@file" not in routers(w), 2.0), w.log_tail()


def test_syntax_error_keeps_previous_routers_and_logs_the_line(wharf):
    w = wharf.start({"api": {"insecure": True}, "entryPoints": {"web": {}}}, dynamic=dyn("keep"))
    assert wait_until(lambda: "keep@file" in routers(w), 5)
    path = w.workdir / "traefik.dynamic.yml"
    # Line 4 has an unclosed flow sequence.
    path.write_text(
        "http:\n"
        "  routers:\n"
        "    broken:\n"
        "      entryPoints: [web\n"
        "      rule: Host(`x`)\n"
    )
    m = w.wait_for_log(r"traefik\.dynamic\.yml:(\d+):\d+: [^\n]+", timeout=5)
    assert int(m.group(1)) in (4, 5), m.group(0)
    assert "previous one keeps serving" in w.log()
    time.sleep(0.3)
    got = routers(w)
    assert "keep@file" in got and got["keep@file"]["status"] == "enabled"
    assert "broken@file" not in got
    # Fixing the file applies the new configuration.
    time.sleep(2.0)
    path.write_text(yaml.safe_dump(dyn("fixed")))
    assert wait_until(lambda: "fixed@file" in routers(w), 3.0), w.log_tail()
    assert w.running()
