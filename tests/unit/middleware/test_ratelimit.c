/* rateLimit runtime: Traefik's token bucket per <middleware>:<source>, the
 * sourceCriterion kinds (middleware/source_key.c), delays vs 429, TTL and
 * size bounds, state shared by threads and kept across identical reloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/ratelimit.h"
#include "middleware/source_key.h"

/* ---- harness ---- */

static int64_t fake_now = 1000LL * 1000000000LL;
static int64_t fake_clock(void) {
  return __atomic_load_n(&fake_now, __ATOMIC_RELAXED);
}
static void advance_ms(int64_t ms) {
  __atomic_add_fetch(&fake_now, ms * 1000000LL, __ATOMIC_RELAXED);
}

/* Whether the requests built here come from a forwardedHeaders.trustedIPs peer. */
static bool g_trusted = true;

typedef struct rq {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *hn[8], *hv[8];
} rq;

static void set_peer(struct sockaddr_storage *ss, const char *ip) {
  memset(ss, 0, sizeof(*ss));
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(40000);
    assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(40000);
    assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
  }
}

/* hdrs: name, value, ..., NULL */
static void rq_init(rq *r, const char *mw, const char *peer, const char *host, ...) {
  memset(r, 0, sizeof(*r));
  va_list ap;
  va_start(ap, host);
  const char *n;
  while ((n = va_arg(ap, const char *)) != NULL) {
    assert_true(r->req.nheaders < 8);
    r->hn[r->req.nheaders] = (char *)n;
    r->hv[r->req.nheaders] = (char *)va_arg(ap, const char *);
    r->req.nheaders++;
  }
  va_end(ap);
  r->req.method = "GET";
  r->req.target = "/";
  r->req.path = "/";
  r->req.host = host;
  r->req.hdr_names = r->hn;
  r->req.hdr_values = r->hv;
  r->req.body = "";
  r->req.http_minor = 1;
  set_peer(&r->req.peer, peer);
  wh_http_resp_init(&r->resp);
  r->x.req = &r->req;
  r->x.resp = &r->resp;
  r->x.path = strdup("/");
  r->x.mw_name = mw;
  r->x.fwd_trusted = g_trusted;
  r->x.mw_provider = "file";
  r->x.level = 1;
}

static void rq_free(rq *r) {
  wh_mw_exchange_free(&r->x);
  wh_http_resp_free(&r->resp);
}

/* Runs one request; returns the status (200 = passed on) and the delay. */
static int run_full(const wh_mw_ratelimit_conf *c, const char *mw, const char *peer,
                    const char *xff, const char *hdr_name, const char *hdr_val, uint32_t *delay_ms,
                    char *retry_after, char *retry_in) {
  rq r;
  if (xff && hdr_name)
    rq_init(&r, mw, peer, "example.com", "X-Forwarded-For", xff, hdr_name, hdr_val, NULL);
  else if (xff)
    rq_init(&r, mw, peer, "example.com", "X-Forwarded-For", xff, NULL);
  else if (hdr_name)
    rq_init(&r, mw, peer, "example.com", hdr_name, hdr_val, NULL);
  else
    rq_init(&r, mw, peer, "example.com", NULL);
  int rc = wh_mw_ratelimit.on_request(c, &r.x);
  int status = 200;
  if (rc == WH_MW_DONE) {
    status = r.resp.status;
    if (status == 429)
      assert_string_equal(wh_strbuf_cstr(&r.resp.body), "Too Many Requests");
    const char *ra = wh_http_resp_get_header(&r.resp, "Retry-After");
    const char *ri = wh_http_resp_get_header(&r.resp, "X-Retry-In");
    if (retry_after)
      snprintf(retry_after, 32, "%s", ra ? ra : "");
    if (retry_in)
      snprintf(retry_in, 32, "%s", ri ? ri : "");
  } else {
    assert_int_equal(rc, WH_MW_NEXT);
    assert_null(wh_http_resp_get_header(&r.resp, "Retry-After"));
  }
  if (delay_ms)
    *delay_ms = r.x.delay_ms;
  rq_free(&r);
  return status;
}

static int run(const wh_mw_ratelimit_conf *c, const char *mw, const char *peer) {
  uint32_t d = 0;
  return run_full(c, mw, peer, NULL, NULL, NULL, &d, NULL, NULL);
}

static int count_ok(const wh_mw_ratelimit_conf *c, const char *mw, const char *peer, int n) {
  int ok = 0;
  for (int i = 0; i < n; i++)
    ok += run(c, mw, peer) == 200;
  return ok;
}

static wh_mw_ratelimit_conf conf(int64_t average, int64_t period_ms, int64_t burst) {
  wh_mw_ratelimit_conf c = {.average = average, .period = period_ms * WH_MS, .burst = burst};
  return c;
}

/* X-Retry-In is Go's Duration.String() of a float-derived wait: compare the
 * parsed value, allowing for the last nanosecond of rounding. */
static void assert_retry_in(const char *ri, wh_duration expect) {
  wh_duration d = 0;
  assert_int_equal(wh_duration_parse(ri, &d), 0);
  assert_true(d >= expect - 2 && d <= expect + 2);
}

static int setup(void **state) {
  (void)state;
  wh_mw_clock_set(fake_clock);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wh_mw_clock_set(NULL);
  return 0;
}

/* ---- token bucket ---- */

static void test_average_zero_never_limits(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(0, 1000, 1);
  assert_int_equal(count_ok(&c, "zero@file", "10.0.0.1", 500), 500);
}

static void test_burst_then_429_with_headers(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(10, 1000, 5); /* maxDelay 50ms */
  uint32_t d = 99;
  for (int i = 0; i < 5; i++) {
    assert_int_equal(run_full(&c, "burst@file", "10.0.0.1", NULL, NULL, NULL, &d, NULL, NULL), 200);
    assert_int_equal(d, 0);
  }
  char ra[32], ri[32];
  assert_int_equal(run_full(&c, "burst@file", "10.0.0.1", NULL, NULL, NULL, &d, ra, ri), 429);
  assert_string_equal(ra, "1");
  assert_string_equal(ri, "100ms");
  /* A refused request took nothing: 100ms later one token is back. */
  advance_ms(100);
  assert_int_equal(run(&c, "burst@file", "10.0.0.1"), 200);
  assert_int_equal(run(&c, "burst@file", "10.0.0.1"), 429);
}

static void test_short_wait_is_a_delay(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(20, 1000, 1); /* 50ms a token, maxDelay 25ms */
  uint32_t d = 0;
  char ra[32], ri[32];
  assert_int_equal(run_full(&c, "delay@file", "10.0.0.1", NULL, NULL, NULL, &d, NULL, NULL), 200);
  assert_int_equal(d, 0);
  advance_ms(30); /* 0.6 token: the next one is 20ms away */
  assert_int_equal(run_full(&c, "delay@file", "10.0.0.1", NULL, NULL, NULL, &d, NULL, NULL), 200);
  assert_int_equal(d, 20);
  /* That reservation made the bucket -0.4: 70ms away now, too long. */
  assert_int_equal(run_full(&c, "delay@file", "10.0.0.1", NULL, NULL, NULL, &d, ra, ri), 429);
  assert_retry_in(ri, 70 * WH_MS);
  assert_string_equal(ra, "1");
}

static void test_burst_below_one_is_one(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(1, 1000, 0);
  assert_int_equal(count_ok(&c, "burst0@file", "10.0.0.1", 10), 1);
}

static void test_refill_is_capped_at_burst(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(100, 1000, 3);
  assert_int_equal(count_ok(&c, "cap@file", "10.0.0.1", 10), 3);
  advance_ms(1500); /* 150 tokens' worth, but the bucket holds 3 (TTL 2s not reached) */
  assert_int_equal(count_ok(&c, "cap@file", "10.0.0.1", 10), 3);
}

static void test_slow_rate_period_and_headers(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(1, 60000, 1); /* 1 a minute: maxDelay 500ms, TTL 61s */
  char ra[32], ri[32];
  uint32_t d = 0;
  assert_int_equal(run(&c, "slow@file", "10.0.0.1"), 200);
  assert_int_equal(run_full(&c, "slow@file", "10.0.0.1", NULL, NULL, NULL, &d, ra, ri), 429);
  assert_string_equal(ra, "60");
  assert_string_equal(ri, "1m0s");
  advance_ms(59600); /* 400ms to go: within maxDelay */
  assert_int_equal(run_full(&c, "slow@file", "10.0.0.1", NULL, NULL, NULL, &d, NULL, NULL), 200);
  assert_int_equal(d, 400);
  advance_ms(1000);
  assert_int_equal(run_full(&c, "slow@file", "10.0.0.1", NULL, NULL, NULL, &d, ra, ri), 429);
  assert_retry_in(ri, 59400 * WH_MS);
  assert_string_equal(ra, "60");
}

/* ---- sources ---- */

static void test_sources_have_own_buckets(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(1, 1000, 2);
  assert_int_equal(count_ok(&c, "per@file", "10.0.0.1", 5), 2);
  assert_int_equal(count_ok(&c, "per@file", "10.0.0.2", 5), 2);
  assert_int_equal(count_ok(&c, "per@file", "::1", 5), 2);
  /* Another middleware with the same options has its own key space. */
  assert_int_equal(count_ok(&c, "per2@file", "10.0.0.1", 5), 2);
}

static void test_xff_ignored_by_default(void **state) {
  (void)state;
  /* HARDENING 19: a client cannot buy a fresh bucket with a header, not
   * even a trusted proxy's client, unless ipStrategy asks for it. */
  g_trusted = true;
  wh_mw_ratelimit_conf c = conf(1, 1000, 2);
  char xff[32];
  int ok = 0;
  for (int i = 0; i < 10; i++) {
    snprintf(xff, sizeof xff, "203.0.113.%d", i);
    ok += run_full(&c, "xff@file", "10.0.0.1", xff, NULL, NULL, NULL, NULL, NULL) == 200;
  }
  assert_int_equal(ok, 2);
  /* ::ffff:10.0.0.1 is the same client as 10.0.0.1 (HARDENING 18). */
  assert_int_equal(run(&c, "xff@file", "::ffff:10.0.0.1"), 429);
}

static void test_ipv6_subnet_groups_remote(void **state) {
  (void)state;
  wh_mw_ip_strategy ips = {.ipv6_subnet = 64, .ipv6_subnet_set = true};
  wh_mw_source_criterion sc = {.ip_strategy = &ips};
  wh_mw_ratelimit_conf c = conf(1, 1000, 2);
  c.source_criterion = &sc;
  assert_int_equal(run(&c, "v6@file", "2001:db8:1:2::1"), 200);
  assert_int_equal(run(&c, "v6@file", "2001:db8:1:2:ffff::9"), 200);
  assert_int_equal(run(&c, "v6@file", "2001:db8:1:2::77"), 429);
  assert_int_equal(run(&c, "v6@file", "2001:db8:1:3::1"), 200); /* other /64 */
  /* IPv4 is not affected by ipv6Subnet. */
  assert_int_equal(count_ok(&c, "v6@file", "10.0.0.1", 3), 2);
  assert_int_equal(count_ok(&c, "v6@file", "10.0.0.2", 3), 2);
}

static void test_request_header_source(void **state) {
  (void)state;
  wh_mw_source_criterion sc = {.request_header_name = "X-Api-Key"};
  wh_mw_ratelimit_conf c = conf(1, 1000, 1);
  c.source_criterion = &sc;
  assert_int_equal(run_full(&c, "hdr@file", "10.0.0.1", NULL, "x-api-key", "a", NULL, NULL, NULL),
                   200);
  assert_int_equal(run_full(&c, "hdr@file", "10.0.0.2", NULL, "X-API-KEY", "a", NULL, NULL, NULL),
                   429);
  assert_int_equal(run_full(&c, "hdr@file", "10.0.0.1", NULL, "X-Api-Key", "b", NULL, NULL, NULL),
                   200);
  /* Absent header: all such requests share the "" source, as in Traefik. */
  assert_int_equal(run(&c, "hdr@file", "10.0.0.1"), 200);
  assert_int_equal(run(&c, "hdr@file", "10.0.0.2"), 429);
}

/* ---- source extraction directly ---- */

static char *source_of(const wh_mw_source_criterion *sc, const char *peer, const char *xff,
                       const char *host, const char *set_host) {
  wh_mw_source_spec s;
  const char *bad = NULL;
  assert_int_equal(wh_mw_source_spec_init(&s, sc, &bad), 0);
  rq r;
  if (xff)
    rq_init(&r, "src@file", peer, host, "X-Forwarded-For", xff, NULL);
  else
    rq_init(&r, "src@file", peer, host, NULL);
  if (set_host)
    assert_int_equal(wh_mw_exchange_set_header(&r.x, "Host", set_host), 0);
  wh_strbuf out = {0};
  assert_int_equal(wh_mw_source_get(&s, &r.x, &out), 0);
  char *v = wh_strbuf_take(&out);
  rq_free(&r);
  wh_mw_source_spec_free(&s);
  return v;
}

#define ASSERT_SOURCE(expect, sc, peer, xff, host, set_host)                                       \
  do {                                                                                             \
    char *v_ = source_of(sc, peer, xff, host, set_host);                                           \
    assert_string_equal(v_, expect);                                                               \
    free(v_);                                                                                      \
  } while (0)

static void test_source_remote_default(void **state) {
  (void)state;
  ASSERT_SOURCE("10.1.2.3", NULL, "10.1.2.3", "1.1.1.1", "h", NULL);
  ASSERT_SOURCE("10.1.2.3", NULL, "::ffff:10.1.2.3", NULL, "h", NULL);
  ASSERT_SOURCE("2001:db8::1", NULL, "2001:db8::1", NULL, "h", NULL);
  wh_mw_source_criterion empty = {0};
  ASSERT_SOURCE("10.1.2.3", &empty, "10.1.2.3", "1.1.1.1", "h", NULL);
  wh_mw_ip_strategy none = {0};
  wh_mw_source_criterion ip_only = {.ip_strategy = &none};
  ASSERT_SOURCE("10.1.2.3", &ip_only, "10.1.2.3", "1.1.1.1", "h", NULL);
}

static void test_source_depth(void **state) {
  (void)state;
  wh_mw_ip_strategy d1 = {.depth = 1}, d2 = {.depth = 2}, d4 = {.depth = 4};
  wh_mw_source_criterion c1 = {.ip_strategy = &d1}, c2 = {.ip_strategy = &d2},
                         c4 = {.ip_strategy = &d4};
  const char *xff = "1.1.1.1 , 2.2.2.2,  3.3.3.3 ";
  ASSERT_SOURCE("3.3.3.3", &c1, "10.0.0.1", xff, "h", NULL);
  ASSERT_SOURCE("2.2.2.2", &c2, "10.0.0.1", xff, "h", NULL);
  ASSERT_SOURCE("", &c4, "10.0.0.1", xff, "h", NULL); /* too few entries */
  ASSERT_SOURCE("", &c1, "10.0.0.1", NULL, "h", NULL);
  ASSERT_SOURCE("", &c2, "10.0.0.1", NULL, "h", NULL);
  /* depth wins over excludedIPs; ipv6Subnet applies to the chosen entry */
  char *ex[] = {"3.3.3.3"};
  wh_mw_ip_strategy both = {.depth = 1, .excluded_ips = {ex, 1}};
  wh_mw_source_criterion cb = {.ip_strategy = &both};
  ASSERT_SOURCE("3.3.3.3", &cb, "10.0.0.1", xff, "h", NULL);
  wh_mw_ip_strategy v6 = {.depth = 1, .ipv6_subnet = 48, .ipv6_subnet_set = true};
  wh_mw_source_criterion cv6 = {.ip_strategy = &v6};
  ASSERT_SOURCE("2001:db8:aa::", &cv6, "10.0.0.1", "1.1.1.1, 2001:db8:aa:bb::5", "h", NULL);
  ASSERT_SOURCE("1.1.1.1", &cv6, "10.0.0.1", "2001:db8:aa:bb::5, 1.1.1.1", "h", NULL);
  ASSERT_SOURCE("not-an-ip", &cv6, "10.0.0.1", "not-an-ip", "h", NULL);
}

static void test_source_excluded_ips(void **state) {
  (void)state;
  char *ex[] = {"10.0.0.0/8", "2001:db8::/32"};
  wh_mw_ip_strategy p = {.excluded_ips = {ex, 2}};
  wh_mw_source_criterion c = {.ip_strategy = &p};
  ASSERT_SOURCE("1.1.1.1", &c, "10.0.0.9", "1.1.1.1, 10.0.0.5, 2001:db8::7", "h", NULL);
  ASSERT_SOURCE("9.9.9.9", &c, "10.0.0.9", "1.1.1.1,9.9.9.9,,10.0.0.5", "h", NULL);
  ASSERT_SOURCE("", &c, "10.0.0.9", "10.1.1.1, 10.0.0.5", "h", NULL);
  ASSERT_SOURCE("", &c, "10.0.0.9", NULL, "h", NULL);
  /* an unparsable entry is not in the pool, so it is the answer (Go Checker) */
  ASSERT_SOURCE("junk", &c, "10.0.0.9", "1.1.1.1, junk, 10.0.0.1", "h", NULL);
}

/* Traefik's entry point deletes an untrusted peer's X-Forwarded-For before
 * any middleware runs, and joins a trusted peer's several lines. */
static void test_source_xff_trust(void **state) {
  (void)state;
  wh_mw_ip_strategy d1 = {.depth = 1}, d3 = {.depth = 3};
  wh_mw_source_criterion c1 = {.ip_strategy = &d1}, c3 = {.ip_strategy = &d3};
  char *ex[] = {"10.0.0.0/8"};
  wh_mw_ip_strategy p = {.excluded_ips = {ex, 1}};
  wh_mw_source_criterion cp = {.ip_strategy = &p};
  g_trusted = false;
  ASSERT_SOURCE("", &c1, "10.0.0.1", "1.1.1.1", "h", NULL);
  ASSERT_SOURCE("", &cp, "10.0.0.1", "1.1.1.1", "h", NULL);
  g_trusted = true;
  ASSERT_SOURCE("1.1.1.1", &c1, "10.0.0.1", "1.1.1.1", "h", NULL);

  wh_mw_source_spec s;
  assert_int_equal(wh_mw_source_spec_init(&s, &c3, NULL), 0);
  rq r;
  rq_init(&r, "src@file", "10.0.0.1", "h", "X-Forwarded-For", "1.1.1.1, 2.2.2.2", "Accept", "*/*",
          "x-forwarded-for", "3.3.3.3", NULL);
  wh_strbuf out = {0};
  assert_int_equal(wh_mw_source_get(&s, &r.x, &out), 0);
  assert_string_equal(wh_strbuf_cstr(&out), "1.1.1.1");
  wh_strbuf_free(&out);
  /* A value set by an earlier middleware is what Traefik's next handler
   * sees, trusted peer or not. */
  r.x.fwd_trusted = false;
  assert_int_equal(wh_mw_exchange_set_header(&r.x, "X-Forwarded-For", "7.7.7.7, 8.8.8.8, 9.9.9.9"),
                   0);
  assert_int_equal(wh_mw_source_get(&s, &r.x, &out), 0);
  assert_string_equal(wh_strbuf_cstr(&out), "7.7.7.7");
  wh_strbuf_free(&out);
  rq_free(&r);
  wh_mw_source_spec_free(&s);
}

static void test_source_bad_excluded_ip_rejected(void **state) {
  (void)state;
  char *ex[] = {"10.0.0.0/8", "10.0.0.300"};
  wh_mw_ip_strategy p = {.excluded_ips = {ex, 2}};
  wh_mw_source_criterion sc = {.ip_strategy = &p};
  wh_mw_source_spec s;
  const char *bad = NULL;
  assert_int_equal(wh_mw_source_spec_init(&s, &sc, &bad), WH_EINVAL);
  assert_non_null(bad);
  assert_string_equal(bad, "10.0.0.300");
  /* The middleware fails closed: 500, never an unlimited pass. */
  wh_mw_ratelimit_conf c = conf(1, 1000, 1);
  c.source_criterion = &sc;
  assert_int_equal(run(&c, "badex@file", "10.0.0.1"), 500);
}

static void test_source_host(void **state) {
  (void)state;
  wh_mw_source_criterion c = {.request_host = true};
  ASSERT_SOURCE("example.com:8080", &c, "10.0.0.1", NULL, "example.com:8080", NULL);
  ASSERT_SOURCE("other.test", &c, "10.0.0.1", NULL, "example.com", "other.test");
  ASSERT_SOURCE("", &c, "10.0.0.1", NULL, NULL, NULL);
}

/* ---- state lifetime ---- */

static void test_ttl_expiry_restarts_full(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(1, 1000, 5); /* TTL 2s */
  assert_int_equal(count_ok(&c, "ttl@file", "10.0.0.1", 10), 5);
  advance_ms(1200); /* still tracked: 1.2 tokens */
  assert_int_equal(count_ok(&c, "ttl@file", "10.0.0.1", 10), 1);
  advance_ms(2100); /* idle past the TTL: forgotten, full again */
  assert_int_equal(count_ok(&c, "ttl@file", "10.0.0.1", 10), 5);

  wh_mw_ratelimit_conf slow = conf(1, 4000, 2); /* 0.25/s: TTL 1+4 = 5s */
  assert_int_equal(count_ok(&slow, "ttl2@file", "10.0.0.1", 3), 2);
  advance_ms(4500); /* still tracked (a 2s TTL would give a full bucket) */
  assert_int_equal(count_ok(&slow, "ttl2@file", "10.0.0.1", 3), 1);
  advance_ms(5100);
  assert_int_equal(count_ok(&slow, "ttl2@file", "10.0.0.1", 3), 2);
}

static void test_source_cap_evicts_oldest(void **state) {
  (void)state;
  wh_mw_source_criterion sc = {.request_header_name = "X-Src"};
  wh_mw_ratelimit_conf c = conf(1, 1000, 1);
  c.source_criterion = &sc;
  char v[32];
  assert_int_equal(run_full(&c, "many@file", "10.0.0.1", NULL, "X-Src", "first", NULL, NULL, NULL),
                   200);
  assert_int_equal(run_full(&c, "many@file", "10.0.0.1", NULL, "X-Src", "first", NULL, NULL, NULL),
                   429);
  for (int i = 0; i < 70000; i++) {
    snprintf(v, sizeof v, "s%d", i);
    assert_int_equal(run_full(&c, "many@file", "10.0.0.1", NULL, "X-Src", v, NULL, NULL, NULL),
                     200);
  }
  /* The clock never moved: only eviction can have refilled "first". */
  assert_int_equal(run_full(&c, "many@file", "10.0.0.1", NULL, "X-Src", "first", NULL, NULL, NULL),
                   200);
  assert_int_equal(run_full(&c, "many@file", "10.0.0.1", NULL, "X-Src", "s69999", NULL, NULL, NULL),
                   429);
}

static void test_reload_keeps_state_change_resets(void **state) {
  (void)state;
  wh_mw_ip_strategy ips = {.ipv6_subnet = 64, .ipv6_subnet_set = true};
  wh_mw_source_criterion sc = {.ip_strategy = &ips};
  wh_mw_ratelimit_conf *a = calloc(1, sizeof(*a));
  *a = conf(1, 1000, 2);
  a->source_criterion = &sc;
  assert_int_equal(count_ok(a, "reload@file", "10.0.0.1", 5), 2);
  free(a);
  /* A new snapshot: another struct with the same options. */
  wh_mw_ip_strategy ips2 = ips;
  wh_mw_source_criterion sc2 = {.ip_strategy = &ips2};
  wh_mw_ratelimit_conf b = conf(1, 1000, 2);
  b.source_criterion = &sc2;
  assert_int_equal(count_ok(&b, "reload@file", "10.0.0.1", 5), 0);
  /* Changed options start fresh. */
  wh_mw_ratelimit_conf d = conf(1, 1000, 3);
  d.source_criterion = &sc2;
  assert_int_equal(count_ok(&d, "reload@file", "10.0.0.1", 5), 3);
  ips2.ipv6_subnet = 56;
  assert_int_equal(count_ok(&d, "reload@file", "10.0.0.1", 5), 3);
  /* An unused state goes away in the sweep; what it held had expired. */
  advance_ms(10000);
  wh_mw_state_sweep();
  assert_int_equal(count_ok(&d, "reload@file", "10.0.0.1", 5), 3);
}

typedef struct thr_arg {
  const wh_mw_ratelimit_conf *c;
  int ok;
} thr_arg;

static void *hammer(void *p) {
  thr_arg *a = p;
  for (int i = 0; i < 300; i++)
    a->ok += run(a->c, "threads@file", "10.9.9.9") == 200;
  return NULL;
}

static void test_shared_across_threads(void **state) {
  (void)state;
  wh_mw_ratelimit_conf c = conf(1, 1000, 100);
  pthread_t t[4];
  thr_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thr_arg){&c, 0};
    assert_int_equal(pthread_create(&t[i], NULL, hammer, &a[i]), 0);
  }
  int total = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    total += a[i].ok;
  }
  /* The clock is frozen: exactly the burst, whichever thread took it. */
  assert_int_equal(total, 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_average_zero_never_limits),
      cmocka_unit_test(test_burst_then_429_with_headers),
      cmocka_unit_test(test_short_wait_is_a_delay),
      cmocka_unit_test(test_burst_below_one_is_one),
      cmocka_unit_test(test_refill_is_capped_at_burst),
      cmocka_unit_test(test_slow_rate_period_and_headers),
      cmocka_unit_test(test_sources_have_own_buckets),
      cmocka_unit_test(test_xff_ignored_by_default),
      cmocka_unit_test(test_ipv6_subnet_groups_remote),
      cmocka_unit_test(test_request_header_source),
      cmocka_unit_test(test_source_remote_default),
      cmocka_unit_test(test_source_depth),
      cmocka_unit_test(test_source_excluded_ips),
      cmocka_unit_test(test_source_xff_trust),
      cmocka_unit_test(test_source_bad_excluded_ip_rejected),
      cmocka_unit_test(test_source_host),
      cmocka_unit_test(test_ttl_expiry_restarts_full),
      cmocka_unit_test(test_source_cap_evicts_oldest),
      cmocka_unit_test(test_reload_keeps_state_change_resets),
      cmocka_unit_test(test_shared_across_threads),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
