/* inFlightReq runtime: `amount` concurrent requests per source, the slot
 * given back when the exchange ends (aborted included), state shared by
 * threads and kept across identical reloads. */
#include <setjmp.h>
#include <stdarg.h>
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
#include "middleware/inflightreq.h"
#include "middleware/source_key.h"

typedef struct rq {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *hn[2], *hv[2];
  int rc;
} rq;

/* Starts a request through the middleware; it stays in flight until rq_end. */
static rq *rq_start(const wh_mw_inflightreq_conf *c, const char *mw, const char *peer,
                    const char *hdr, const char *val) {
  rq *r = calloc(1, sizeof(*r));
  assert_non_null(r);
  if (hdr) {
    r->hn[0] = (char *)hdr;
    r->hv[0] = (char *)val;
    r->req.nheaders = 1;
  }
  r->req.method = "GET";
  r->req.target = "/";
  r->req.path = "/";
  r->req.host = "example.com";
  r->req.hdr_names = r->hn;
  r->req.hdr_values = r->hv;
  r->req.body = "";
  struct sockaddr_in *s4 = (struct sockaddr_in *)&r->req.peer;
  s4->sin_family = AF_INET;
  assert_int_equal(inet_pton(AF_INET, peer, &s4->sin_addr), 1);
  wh_http_resp_init(&r->resp);
  r->x.req = &r->req;
  r->x.resp = &r->resp;
  r->x.path = strdup("/");
  r->x.mw_name = mw;
  r->x.fwd_trusted = true; /* a forwardedHeaders.trustedIPs peer */
  r->x.mw_provider = "file";
  r->x.level = 1;
  r->rc = wh_mw_inflightreq.on_request(c, &r->x);
  if (r->rc == WH_MW_DONE) {
    assert_int_equal(r->resp.status, 429);
    assert_string_equal(wh_strbuf_cstr(&r->resp.body), "Too Many Requests");
    assert_int_equal(r->x.nends, 0);
  } else {
    assert_int_equal(r->rc, WH_MW_NEXT);
    assert_int_equal(r->x.nends, 1);
  }
  return r;
}

static bool passed(const rq *r) {
  return r->rc == WH_MW_NEXT;
}

/* Ends the exchange the way the data plane does: the end callbacks with the
 * status sent, or (status < 0) an abort through wh_mw_exchange_free. */
static void rq_end(rq *r, int status) {
  if (status >= 0) {
    for (size_t i = 0; i < r->x.nends; i++)
      r->x.ends[i].fn(r->x.ends[i].arg, status);
    free(r->x.ends);
    r->x.ends = NULL;
    r->x.nends = 0;
  }
  wh_mw_exchange_free(&r->x);
  wh_http_resp_free(&r->resp);
  free(r);
}

static void test_limit_and_release(void **state) {
  (void)state;
  wh_mw_inflightreq_conf c = {.amount = 2};
  rq *a = rq_start(&c, "ifr@file", "10.0.0.1", NULL, NULL);
  rq *b = rq_start(&c, "ifr@file", "10.0.0.1", NULL, NULL);
  rq *d = rq_start(&c, "ifr@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(a) && passed(b));
  assert_false(passed(d));
  rq_end(d, -1); /* a refused request holds nothing */
  rq *e = rq_start(&c, "ifr@file", "10.0.0.1", NULL, NULL);
  assert_false(passed(e));
  rq_end(e, -1);
  rq_end(a, 200);
  rq *f = rq_start(&c, "ifr@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(f));
  rq *g = rq_start(&c, "ifr@file", "10.0.0.1", NULL, NULL);
  assert_false(passed(g));
  rq_end(g, -1);
  rq_end(b, 502);
  rq_end(f, 200);
}

static void test_abort_releases(void **state) {
  (void)state;
  wh_mw_inflightreq_conf c = {.amount = 1};
  rq *a = rq_start(&c, "ifabort@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(a));
  rq *b = rq_start(&c, "ifabort@file", "10.0.0.1", NULL, NULL);
  assert_false(passed(b));
  rq_end(b, -1);
  rq_end(a, -1); /* client gone: wh_mw_exchange_free runs the callback with 0 */
  rq *d = rq_start(&c, "ifabort@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(d));
  rq_end(d, 0);
}

static void test_per_source(void **state) {
  (void)state;
  wh_mw_inflightreq_conf c = {.amount = 1};
  rq *a = rq_start(&c, "ifsrc@file", "10.0.0.1", "X-Forwarded-For", "1.1.1.1");
  rq *b = rq_start(&c, "ifsrc@file", "10.0.0.2", NULL, NULL);
  /* X-Forwarded-For is not the source by default (HARDENING 19) */
  rq *d = rq_start(&c, "ifsrc@file", "10.0.0.1", "X-Forwarded-For", "2.2.2.2");
  /* another middleware, another space */
  rq *e = rq_start(&c, "ifsrc2@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(a) && passed(b) && passed(e));
  assert_false(passed(d));
  rq_end(a, 200);
  rq_end(b, 200);
  rq_end(d, -1);
  rq_end(e, 200);
}

static void test_header_criterion(void **state) {
  (void)state;
  wh_mw_source_criterion sc = {.request_header_name = "X-Tenant"};
  wh_mw_inflightreq_conf c = {.amount = 1, .source_criterion = &sc};
  rq *a = rq_start(&c, "ifhdr@file", "10.0.0.1", "X-Tenant", "a");
  rq *b = rq_start(&c, "ifhdr@file", "10.0.0.1", "x-tenant", "b");
  rq *d = rq_start(&c, "ifhdr@file", "10.0.0.2", "X-Tenant", "a");
  assert_true(passed(a) && passed(b));
  assert_false(passed(d));
  rq_end(a, 200);
  rq_end(b, 200);
  rq_end(d, -1);
}

static void test_depth_criterion(void **state) {
  (void)state;
  wh_mw_ip_strategy ips = {.depth = 1};
  wh_mw_source_criterion sc = {.ip_strategy = &ips};
  wh_mw_inflightreq_conf c = {.amount = 1, .source_criterion = &sc};
  rq *a = rq_start(&c, "ifdepth@file", "10.0.0.1", "X-Forwarded-For", "9.9.9.9, 1.1.1.1");
  rq *b = rq_start(&c, "ifdepth@file", "10.0.0.1", "X-Forwarded-For", "1.1.1.2");
  rq *d = rq_start(&c, "ifdepth@file", "10.0.0.2", "X-Forwarded-For", "1.1.1.1");
  assert_true(passed(a) && passed(b));
  assert_false(passed(d));
  rq_end(a, 200);
  rq_end(b, 200);
  rq_end(d, -1);
}

static void test_reload_keeps_counters(void **state) {
  (void)state;
  wh_mw_inflightreq_conf c1 = {.amount = 1};
  rq *a = rq_start(&c1, "ifreload@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(a));
  /* New snapshot, same options: the request in flight still counts. */
  wh_mw_inflightreq_conf c2 = {.amount = 1};
  rq *b = rq_start(&c2, "ifreload@file", "10.0.0.1", NULL, NULL);
  assert_false(passed(b));
  rq_end(b, -1);
  /* Changed options: fresh counters. */
  wh_mw_inflightreq_conf c3 = {.amount = 2};
  rq *d = rq_start(&c3, "ifreload@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(d));
  rq_end(d, 200);
  /* The old state is kept while its request is in flight, even by a sweep. */
  wh_mw_state_sweep();
  rq_end(a, 200);
  rq *e = rq_start(&c2, "ifreload@file", "10.0.0.1", NULL, NULL);
  assert_true(passed(e));
  rq_end(e, 200);
}

typedef struct thr_arg {
  const wh_mw_inflightreq_conf *c;
  pthread_barrier_t *bar;
  int ok;
} thr_arg;

static void *hold_then_release(void *p) {
  thr_arg *a = p;
  rq *held[20];
  for (int i = 0; i < 20; i++) {
    held[i] = rq_start(a->c, "ifthreads@file", "10.7.7.7", NULL, NULL);
    a->ok += passed(held[i]);
  }
  pthread_barrier_wait(a->bar); /* every thread has tried before any releases */
  for (int i = 0; i < 20; i++)
    rq_end(held[i], passed(held[i]) ? 200 : -1);
  return NULL;
}

static void test_shared_across_threads(void **state) {
  (void)state;
  wh_mw_inflightreq_conf c = {.amount = 25};
  pthread_barrier_t bar;
  pthread_barrier_init(&bar, NULL, 4);
  pthread_t t[4];
  thr_arg a[4];
  for (int i = 0; i < 4; i++) {
    a[i] = (thr_arg){&c, &bar, 0};
    assert_int_equal(pthread_create(&t[i], NULL, hold_then_release, &a[i]), 0);
  }
  int total = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(t[i], NULL);
    total += a[i].ok;
  }
  pthread_barrier_destroy(&bar);
  assert_int_equal(total, 25);
  /* Everything was given back: the full amount is available again. */
  rq *held[26];
  int ok = 0;
  for (int i = 0; i < 26; i++) {
    held[i] = rq_start(&c, "ifthreads@file", "10.7.7.7", NULL, NULL);
    ok += passed(held[i]);
  }
  assert_int_equal(ok, 25);
  for (int i = 0; i < 26; i++)
    rq_end(held[i], passed(held[i]) ? 200 : -1);
}

static void test_bad_excluded_ips_fail_closed(void **state) {
  (void)state;
  char *ex[] = {"not-a-cidr"};
  wh_mw_ip_strategy ips = {.excluded_ips = {ex, 1}};
  wh_mw_source_criterion sc = {.ip_strategy = &ips};
  wh_mw_inflightreq_conf c = {.amount = 5, .source_criterion = &sc};
  rq r;
  memset(&r, 0, sizeof(r));
  r.req.method = "GET";
  r.req.host = "example.com";
  r.req.peer.ss_family = AF_INET;
  wh_http_resp_init(&r.resp);
  r.x.req = &r.req;
  r.x.resp = &r.resp;
  r.x.mw_name = "ifbad@file";
  assert_int_equal(wh_mw_inflightreq.on_request(&c, &r.x), WH_MW_DONE);
  assert_int_equal(r.resp.status, 500);
  assert_int_equal(r.x.nends, 0);
  wh_mw_exchange_free(&r.x);
  wh_http_resp_free(&r.resp);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_limit_and_release),
      cmocka_unit_test(test_abort_releases),
      cmocka_unit_test(test_per_source),
      cmocka_unit_test(test_header_criterion),
      cmocka_unit_test(test_depth_criterion),
      cmocka_unit_test(test_reload_keeps_counters),
      cmocka_unit_test(test_shared_across_threads),
      cmocka_unit_test(test_bad_excluded_ips_fail_closed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
