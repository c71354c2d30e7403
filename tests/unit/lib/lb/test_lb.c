/* Balancer: EDF weighted round robin, health cells, sticky picks, passive
 * fencing (lib/lb/lb.c, wrr.c, health_store.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/lb/health_store.h"
#include "lib/lb/lb.h"
#include "tests/unit/lib/lb/lb_test_util.h"

#define U1 "http://10.0.0.1:80"
#define U2 "http://10.0.0.2:80"
#define U3 "http://10.0.0.3:80"

static const wh_lb_server *by_url(const wh_lb *lb, const char *url) {
  for (size_t i = 0; i < wh_lb_nservers(lb); i++)
    if (strcmp(wh_lb_server_at(lb, i)->url, url) == 0)
      return wh_lb_server_at(lb, i);
  return NULL;
}

static void set_up(const wh_lb *lb, const char *url, int up) {
  atomic_store(by_url(lb, url)->up, up);
}

/* counts[i] = picks of Ui over n picks by worker. */
static void count_picks(wh_lb *lb, int worker, int n, int counts[4]) {
  memset(counts, 0, 4 * sizeof(int));
  for (int i = 0; i < n; i++) {
    const wh_lb_server *s = wh_lb_pick(lb, worker, NULL, NULL);
    if (!s) {
      counts[0]++;
      continue;
    }
    counts[s->url[14] - '0']++;
  }
}

static wh_lb *three(int w1, int w2, int w3, int nworkers) {
  test_svc t;
  test_svc_init(&t);
  test_svc_add(&t, U1, w1);
  test_svc_add(&t, U2, w2);
  test_svc_add(&t, U3, w3);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_lb *lb = wh_lb_new("svc@file", &t.lb, nworkers, NULL, &errs);
  assert_int_equal(errs.n, 0);
  wh_errlist_free(&errs);
  assert_non_null(lb);
  return lb;
}

static void test_edf_weights_exact(void **state) {
  (void)state;
  wh_lb *lb = three(1, 2, 3, 4);
  for (int w = 0; w < 4; w++) {
    int c[4];
    count_picks(lb, w, 600, c);
    assert_int_equal(c[0], 0);
    assert_int_equal(c[1], 100);
    assert_int_equal(c[2], 200);
    assert_int_equal(c[3], 300);
  }
  wh_lb_free(lb);
}

static void test_edf_equal_weights_rotate(void **state) {
  (void)state;
  wh_lb *lb = three(1, 1, 1, 1);
  for (int round = 0; round < 50; round++) {
    const wh_lb_server *a = wh_lb_pick(lb, 0, NULL, NULL);
    const wh_lb_server *b = wh_lb_pick(lb, 0, NULL, NULL);
    const wh_lb_server *c = wh_lb_pick(lb, 0, NULL, NULL);
    assert_true(a != b && b != c && a != c);
  }
  wh_lb_free(lb);
}

static void test_edf_interleaves_heavy_server(void **state) {
  (void)state;
  /* weight 3 vs 1: spread, not batched: at most 3 in a row plus one at a
   * deadline tie, and the light server is never picked twice in a row */
  wh_lb *lb = three(3, 1, 0, 1);
  assert_int_equal(wh_lb_nservers(lb), 2);
  int run = 0, maxrun = 0, heavy = 0;
  const wh_lb_server *prev = NULL;
  for (int i = 0; i < 400; i++) {
    const wh_lb_server *s = wh_lb_pick(lb, 0, NULL, NULL);
    bool is_heavy = strcmp(s->url, U1) == 0;
    heavy += is_heavy;
    run = is_heavy ? run + 1 : 0;
    if (run > maxrun)
      maxrun = run;
    assert_false(!is_heavy && prev && prev == s);
    prev = s;
  }
  assert_true(maxrun >= 3 && maxrun <= 4);
  assert_int_equal(heavy, 300);
  wh_lb_free(lb);
}

static void test_down_server_skipped(void **state) {
  (void)state;
  wh_lb *lb = three(1, 2, 3, 1);
  set_up(lb, U3, 0);
  assert_false(wh_lb_server_up(by_url(lb, U3)));
  assert_false(wh_lb_server_available(lb, by_url(lb, U3)));
  int c[4];
  count_picks(lb, 0, 300, c);
  assert_int_equal(c[3], 0);
  assert_int_equal(c[1], 100);
  assert_int_equal(c[2], 200);
  set_up(lb, U3, 1);
  count_picks(lb, 0, 600, c);
  assert_true(c[3] > 0);
  wh_lb_free(lb);
}

static void test_all_down_null(void **state) {
  (void)state;
  wh_lb *lb = three(1, 5, 1000, 2);
  set_up(lb, U1, 0);
  set_up(lb, U2, 0);
  set_up(lb, U3, 0);
  char *sc = (char *)1;
  assert_null(wh_lb_pick(lb, 0, NULL, &sc));
  assert_null(sc);
  assert_null(wh_lb_pick(lb, 1, NULL, NULL));
  /* the lightest server alone comes back despite the 1000:1 ratio */
  set_up(lb, U1, 1);
  const wh_lb_server *s = wh_lb_pick(lb, 0, NULL, NULL);
  assert_non_null(s);
  assert_string_equal(s->url, U1);
  wh_lb_free(lb);
}

static void test_no_servers_null(void **state) {
  (void)state;
  test_svc t;
  test_svc_init(&t);
  wh_lb *lb = wh_lb_new("empty@file", &t.lb, 2, NULL, NULL);
  assert_non_null(lb);
  assert_int_equal(wh_lb_nservers(lb), 0);
  assert_null(wh_lb_server_at(lb, 0));
  assert_null(wh_lb_pick(lb, 0, NULL, NULL));
  wh_lb_free(lb);
  assert_null(wh_lb_pick(NULL, 0, NULL, NULL));
}

static void test_weight_zero_excluded(void **state) {
  (void)state;
  test_svc t;
  test_svc_init(&t);
  test_svc_add(&t, U1, 0);
  test_svc_add(&t, U2, -1); /* unset: weight 1 */
  wh_lb *lb = wh_lb_new("w@file", &t.lb, 1, NULL, NULL);
  assert_int_equal(wh_lb_nservers(lb), 1);
  assert_string_equal(wh_lb_server_at(lb, 0)->url, U2);
  assert_int_equal(wh_lb_server_at(lb, 0)->weight, 1);
  for (int i = 0; i < 10; i++)
    assert_string_equal(wh_lb_pick(lb, 0, NULL, NULL)->url, U2);
  wh_lb_free(lb);
}

static void test_url_fields(void **state) {
  (void)state;
  test_svc t;
  test_svc_init(&t);
  test_svc_add(&t, "http://10.0.0.1:8080/base/x?q=1", 1);
  test_svc_add(&t, "HTTPS://Example.com", 1);
  test_svc_add(&t, "h2c://[::1]", 1);
  wh_lb *lb = wh_lb_new("u@file", &t.lb, 1, NULL, NULL);
  assert_non_null(lb);
  const wh_lb_server *a = by_url(lb, "http://10.0.0.1:8080/base/x?q=1");
  assert_string_equal(a->scheme, "http");
  assert_string_equal(a->host, "10.0.0.1");
  assert_int_equal(a->port, 8080);
  assert_string_equal(a->hostport, "10.0.0.1:8080");
  assert_string_equal(a->path, "/base/x");
  const wh_lb_server *b = by_url(lb, "HTTPS://Example.com");
  assert_string_equal(b->scheme, "https");
  assert_int_equal(b->port, 443);
  assert_string_equal(b->hostport, "Example.com:443");
  assert_string_equal(b->path, "");
  const wh_lb_server *c = by_url(lb, "h2c://[::1]");
  assert_string_equal(c->host, "::1");
  assert_string_equal(c->hostport, "[::1]:80");
  assert_null(a->cookie_value); /* computed for sticky balancers only */
  wh_lb_free(lb);
}

static void test_bad_url_rejected(void **state) {
  (void)state;
  const char *bad[] = {"10.0.0.1:80",    "ftp://x",     "http://",
                       "http://h:99999", "http://[::1", "http://h:8a"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    test_svc t;
    test_svc_init(&t);
    test_svc_add(&t, U1, 1);
    test_svc_add(&t, bad[i], 1);
    wh_errlist errs;
    wh_errlist_init(&errs);
    assert_null(wh_lb_new("bad@file", &t.lb, 1, NULL, &errs));
    assert_int_equal(errs.n, 1);
    assert_non_null(strstr(errs.items[0], "invalid server URL"));
    wh_errlist_free(&errs);
  }
}

static void test_shuffled_at_build(void **state) {
  (void)state;
  int first[4] = {0};
  for (int i = 0; i < 60; i++) {
    wh_lb *lb = three(1, 1, 1, 1);
    first[wh_lb_pick(lb, 0, NULL, NULL)->url[14] - '0']++;
    wh_lb_free(lb);
  }
  assert_true(first[1] > 0 && first[2] > 0 && first[3] > 0);
}

static void test_worker_out_of_range_shared_state(void **state) {
  (void)state;
  wh_lb *lb = three(1, 2, 3, 2);
  int c[4];
  count_picks(lb, -1, 600, c);
  assert_int_equal(c[1], 100);
  assert_int_equal(c[3], 300);
  count_picks(lb, 2, 600, c);
  assert_int_equal(c[2], 200);
  wh_lb_free(lb);
}

/* ---- health store ---- */

static void test_store_shared_across_balancers(void **state) {
  (void)state;
  wh_health_store *store = wh_health_store_new();
  test_svc t;
  test_svc_init(&t);
  test_svc_add(&t, U1, 1);
  test_svc_add(&t, U2, 1);
  wh_lb *a = wh_lb_new("s@file", &t.lb, 1, store, NULL);
  assert_int_equal(wh_health_store_count(store), 2);
  set_up(a, U1, 0);
  wh_lb *b = wh_lb_new("s@file", &t.lb, 1, store, NULL);
  assert_int_equal(wh_health_store_count(store), 2);
  assert_false(wh_lb_server_up(by_url(b, U1)));
  assert_true(wh_lb_server_up(by_url(b, U2)));
  wh_lb *other = wh_lb_new("other@file", &t.lb, 1, store, NULL);
  assert_true(wh_lb_server_up(by_url(other, U1)));
  assert_int_equal(wh_health_store_count(store), 4);
  /* the old snapshot's balancer goes; the state stays with the new one */
  wh_lb_free(a);
  assert_false(wh_lb_server_up(by_url(b, U1)));
  wh_lb_free(other);
  assert_int_equal(wh_health_store_count(store), 2);
  wh_lb_free(b);
  assert_int_equal(wh_health_store_count(store), 0);
  /* gone and back: starts UP */
  wh_lb *c = wh_lb_new("s@file", &t.lb, 1, store, NULL);
  assert_true(wh_lb_server_up(by_url(c, U1)));
  wh_health_store_free(store); /* the creator lets go first */
  assert_true(wh_lb_server_up(by_url(c, U1)));
  wh_lb_free(c);
}

static void test_store_acquire_release(void **state) {
  (void)state;
  wh_health_store *s = wh_health_store_new();
  wh_health_cell *cells[200];
  char url[64];
  for (int i = 0; i < 200; i++) {
    snprintf(url, sizeof(url), "http://10.0.%d.%d:80", i / 10, i % 10);
    cells[i] = wh_health_store_acquire(s, "svc", url);
    assert_non_null(cells[i]);
    assert_int_equal(atomic_load(&cells[i]->up), 1);
  }
  assert_int_equal(wh_health_store_count(s), 200);
  assert_ptr_equal(wh_health_store_acquire(s, "svc", "http://10.0.4.2:80"), cells[42]);
  wh_health_store_release(s, cells[42]);
  for (int i = 0; i < 200; i++)
    wh_health_store_release(s, cells[i]);
  assert_int_equal(wh_health_store_count(s), 0);
  assert_null(wh_health_store_acquire(s, NULL, "x"));
  wh_health_store_free(s);
}

/* ---- passive health ---- */

static int64_t fake_now;
static int64_t fake_clock(void) {
  return fake_now;
}

static wh_lb *passive_lb(test_svc *t, int64_t max, wh_duration window) {
  test_svc_init(t);
  test_svc_add(t, U1, 1);
  test_svc_add(t, U2, 1);
  t->passive.max_failed_attempts = max;
  t->passive.failure_window = window;
  t->lb.passive_health_check = &t->passive;
  return wh_lb_new("p@file", &t->lb, 1, NULL, NULL);
}

static void test_passive_fences_and_expires(void **state) {
  (void)state;
  fake_now = 1000000;
  wh_lb_set_clock(fake_clock);
  test_svc t;
  wh_lb *lb = passive_lb(&t, 2, 10 * WH_SEC);
  const wh_lb_server *s1 = by_url(lb, U1);
  wh_lb_report(lb, s1, true);
  assert_true(wh_lb_server_available(lb, s1));
  fake_now += 2000;
  wh_lb_report(lb, s1, true);
  assert_false(wh_lb_server_available(lb, s1));
  assert_true(wh_lb_server_up(s1)); /* fencing is not DOWN */
  for (int i = 0; i < 20; i++)
    assert_string_equal(wh_lb_pick(lb, 0, NULL, NULL)->url, U2);
  fake_now += 9999;
  assert_false(wh_lb_server_available(lb, s1));
  fake_now += 1;
  assert_true(wh_lb_server_available(lb, s1));
  int c[4];
  count_picks(lb, 0, 20, c);
  assert_int_equal(c[1], 10);
  wh_lb_free(lb);
  wh_lb_set_clock(NULL);
}

static void test_passive_window_resets(void **state) {
  (void)state;
  fake_now = 5000;
  wh_lb_set_clock(fake_clock);
  test_svc t;
  wh_lb *lb = passive_lb(&t, 2, 10 * WH_SEC);
  const wh_lb_server *s1 = by_url(lb, U1);
  wh_lb_report(lb, s1, true);
  fake_now += 10001; /* the first failure left the window */
  wh_lb_report(lb, s1, true);
  assert_true(wh_lb_server_available(lb, s1));
  wh_lb_report(lb, s1, false); /* successes do not count */
  wh_lb_report(lb, s1, true);
  assert_false(wh_lb_server_available(lb, s1));
  wh_lb_free(lb);
  wh_lb_set_clock(NULL);
}

static void test_passive_all_fenced_null(void **state) {
  (void)state;
  fake_now = 1;
  wh_lb_set_clock(fake_clock);
  test_svc t;
  wh_lb *lb = passive_lb(&t, 1, 1 * WH_SEC);
  wh_lb_report(lb, by_url(lb, U1), true);
  wh_lb_report(lb, by_url(lb, U2), true);
  assert_null(wh_lb_pick(lb, 0, NULL, NULL));
  fake_now += 1000;
  assert_non_null(wh_lb_pick(lb, 0, NULL, NULL));
  wh_lb_free(lb);
  wh_lb_set_clock(NULL);
}

static void test_passive_noop_without_config(void **state) {
  (void)state;
  wh_lb *lb = three(1, 1, 1, 1);
  wh_lb *other = three(1, 1, 1, 1);
  for (int i = 0; i < 10; i++)
    wh_lb_report(lb, by_url(lb, U1), true);
  assert_true(wh_lb_server_available(lb, by_url(lb, U1)));
  /* a server of another balancer is ignored, not written through */
  wh_lb_report(other, by_url(lb, U1), true);
  wh_lb_report(lb, NULL, true);
  wh_lb_free(lb);
  wh_lb_free(other);
}

/* ---- sticky picks ---- */

static wh_lb *sticky_lb(test_svc *t, const char *name) {
  test_svc_init(t);
  test_svc_add(t, U1, 1);
  test_svc_add(t, U2, 1);
  test_svc_sticky(t, name);
  wh_lb *lb = wh_lb_new("whoami@docker", &t->lb, 1, NULL, NULL);
  assert_non_null(lb);
  return lb;
}

static void test_sticky_sets_then_honours(void **state) {
  (void)state;
  test_svc t;
  wh_lb *lb = sticky_lb(&t, NULL);
  assert_string_equal(wh_lb_cookie_name(lb), "_633ff");
  char *sc = NULL;
  const wh_lb_server *first = wh_lb_pick(lb, 0, NULL, &sc);
  assert_non_null(sc);
  char want[128];
  snprintf(want, sizeof(want), "_633ff=%s; Path=/", first->cookie_value);
  assert_string_equal(sc, want);
  free(sc);
  char cookie[128];
  snprintf(cookie, sizeof(cookie), "other=1; _633ff=%s; x=y", first->cookie_value);
  for (int i = 0; i < 10; i++) {
    const wh_lb_server *s = wh_lb_pick(lb, 0, cookie, &sc);
    assert_ptr_equal(s, first);
    assert_null(sc);
  }
  wh_lb_free(lb);
}

static void test_sticky_down_server_repicks(void **state) {
  (void)state;
  test_svc t;
  wh_lb *lb = sticky_lb(&t, "sess");
  set_up(lb, U1, 0);
  char *sc = NULL;
  const wh_lb_server *s = wh_lb_pick(lb, 0, "sess=df5bd2f9c0180410", &sc);
  assert_string_equal(s->url, U2);
  assert_string_equal(sc, "sess=e0c6f0ca44f87f06; Path=/");
  free(sc);
  set_up(lb, U1, 1);
  s = wh_lb_pick(lb, 0, "sess=df5bd2f9c0180410", &sc);
  assert_string_equal(s->url, U1);
  assert_null(sc);
  wh_lb_free(lb);
}

static void test_sticky_legacy_value_rewritten(void **state) {
  (void)state;
  test_svc t;
  wh_lb *lb = sticky_lb(&t, "sess");
  char *sc = NULL;
  for (int i = 0; i < 4; i++) {
    const wh_lb_server *s = wh_lb_pick(lb, 0, "sess=\"99973b1dcba43988\"", &sc);
    assert_string_equal(s->url, U2);
    assert_string_equal(sc, "sess=e0c6f0ca44f87f06; Path=/");
    free(sc);
  }
  wh_lb_free(lb);
}

static void test_sticky_unknown_value_picks(void **state) {
  (void)state;
  test_svc t;
  wh_lb *lb = sticky_lb(&t, "sess");
  char *sc = NULL;
  const wh_lb_server *s = wh_lb_pick(lb, 0, "sess=0123456789abcdef; sessx=df5bd2f9c0180410", &sc);
  assert_non_null(s);
  assert_non_null(sc);
  assert_true(strncmp(sc, "sess=", 5) == 0);
  assert_non_null(strstr(sc, s->cookie_value));
  free(sc);
  /* a pick without set_cookie out-parameter is fine */
  assert_non_null(wh_lb_pick(lb, 0, "garbage;;==", NULL));
  wh_lb_free(lb);
}

static void test_not_sticky_no_cookie(void **state) {
  (void)state;
  wh_lb *lb = three(1, 1, 1, 1);
  assert_null(wh_lb_cookie_name(lb));
  char *sc = (char *)1;
  assert_non_null(wh_lb_pick(lb, 0, "_633ff=df5bd2f9c0180410", &sc));
  assert_null(sc);
  wh_lb_free(lb);
}

static void test_sticky_attributes(void **state) {
  (void)state;
  test_svc t;
  wh_lb *lb = sticky_lb(&t, "my cookie");
  wh_lb_free(lb);
  t.cookie.secure = true;
  t.cookie.http_only = true;
  t.cookie.same_site = (char *)"lax";
  t.cookie.max_age = 3600;
  t.cookie.path = (char *)"/app";
  t.cookie.domain = (char *)".example.com";
  set_up(lb = wh_lb_new("x@file", &t.lb, 1, NULL, NULL), U2, 0);
  char *sc = NULL;
  wh_lb_pick(lb, 0, NULL, &sc);
  assert_string_equal(sc, "my_cookie=df5bd2f9c0180410; Path=/app; Domain=example.com; "
                          "Max-Age=3600; HttpOnly; Secure; SameSite=Lax");
  free(sc);
  wh_lb_free(lb);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_edf_weights_exact),
      cmocka_unit_test(test_edf_equal_weights_rotate),
      cmocka_unit_test(test_edf_interleaves_heavy_server),
      cmocka_unit_test(test_down_server_skipped),
      cmocka_unit_test(test_all_down_null),
      cmocka_unit_test(test_no_servers_null),
      cmocka_unit_test(test_weight_zero_excluded),
      cmocka_unit_test(test_url_fields),
      cmocka_unit_test(test_bad_url_rejected),
      cmocka_unit_test(test_shuffled_at_build),
      cmocka_unit_test(test_worker_out_of_range_shared_state),
      cmocka_unit_test(test_store_shared_across_balancers),
      cmocka_unit_test(test_store_acquire_release),
      cmocka_unit_test(test_passive_fences_and_expires),
      cmocka_unit_test(test_passive_window_resets),
      cmocka_unit_test(test_passive_all_fenced_null),
      cmocka_unit_test(test_passive_noop_without_config),
      cmocka_unit_test(test_sticky_sets_then_honours),
      cmocka_unit_test(test_sticky_down_server_repicks),
      cmocka_unit_test(test_sticky_legacy_value_rewritten),
      cmocka_unit_test(test_sticky_unknown_value_picks),
      cmocka_unit_test(test_not_sticky_no_cookie),
      cmocka_unit_test(test_sticky_attributes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
