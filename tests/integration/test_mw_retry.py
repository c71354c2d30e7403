"""retry middleware through the real binary (TRAEFIK-COMPAT §4 "retry"): network errors are
retried through the load balancer before anything was written, for idempotent methods only,
with the initialInterval backoff; without it a refused connection is a 502."""
import time

import pytest

from conftest import free_port


@pytest.fixture
def env(wharf, backends):
    live = backends.http("live")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused

    def svc(*urls):
        return {"loadBalancer": {"servers": [{"url": u} for u in urls]}}
    w = wharf.start({"entryPoints": {"web": {}}}, dynamic={"http": {
        "routers": {
            "retry": {"rule": "Host(`retry.example`)", "service": "mixed",
                      "middlewares": ["three-tries"]},
            "plain": {"rule": "Host(`plain.example`)", "service": "mixed2"},
            "slow": {"rule": "Host(`slow.example`)", "service": "dead",
                     "middlewares": ["backoff"]},
        },
        "services": {"mixed": svc(dead, live.url), "mixed2": svc(dead, live.url),
                     "dead": svc(dead)},
        "middlewares": {
            "three-tries": {"retry": {"attempts": 3}},
            "backoff": {"retry": {"attempts": 3, "initialInterval": "200ms"}},
        },
    }})
    return w, live


def get(w, host, method="GET", **kw):
    return w.http.request(method, w.url("/echo", "web"), headers={"Host": host}, timeout=10,
                          **kw)


def test_refused_connections_are_retried_on_another_server(env):
    w, live = env
    got = [get(w, "retry.example").status_code for _ in range(8)]
    assert got == [200] * 8


def test_without_retry_a_refused_connection_is_502(env):
    w, _ = env
    got = [get(w, "plain.example").status_code for _ in range(4)]
    assert 502 in got and 200 in got


def test_non_idempotent_requests_are_not_retried(env):
    w, live = env
    got = [get(w, "retry.example", method="POST", data=b"x").status_code for _ in range(4)]
    assert 502 in got, got


def test_backoff_between_attempts_and_502_when_all_fail(env):
    w, _ = env
    t0 = time.monotonic()
    assert get(w, "slow.example").status_code == 502
    # two waits: 200 ms, then 400 ms
    assert time.monotonic() - t0 >= 0.55


def test_keep_alive_post_after_a_refused_backend_reads_the_next_request(env):
    """Regression: a POST whose body waited for a backend that then refused the connection
    left reading paused, and the next request on the keep-alive connection hung."""
    w, _ = env
    got = [get(w, "plain.example", method="POST", data=b"x").status_code for _ in range(4)]
    assert 502 in got and 200 in got, got
