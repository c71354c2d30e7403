/* The upstream keep-alive pool with fake entries: LIFO order, per-key cap,
 * idle deadlines, removal of entries whose connection died. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "lib/proxy/pool.h"

static void test_lifo_per_key(void **state) {
  (void)state;
  wh_pool p;
  wh_pool_init(&p);
  wh_pool_entry a = {0}, b = {0}, c = {0};
  assert_true(wh_pool_put(&p, "10.0.0.1:80", &a, 10, 0, 1000));
  assert_true(wh_pool_put(&p, "10.0.0.1:80", &b, 10, 1, 1000));
  assert_true(wh_pool_put(&p, "10.0.0.2:80", &c, 10, 2, 1000));
  assert_int_equal(wh_pool_count(&p, "10.0.0.1:80"), 2);
  assert_ptr_equal(wh_pool_get(&p, "10.0.0.1:80", 5), &b); /* most recent first */
  assert_ptr_equal(wh_pool_get(&p, "10.0.0.1:80", 5), &a);
  assert_null(wh_pool_get(&p, "10.0.0.1:80", 5));
  assert_ptr_equal(wh_pool_get(&p, "10.0.0.2:80", 5), &c);
  assert_null(wh_pool_get(&p, "unknown:1", 5));
  assert_int_equal(p.nidle, 0);
  wh_pool_free(&p);
}

static void test_cap(void **state) {
  (void)state;
  wh_pool p;
  wh_pool_init(&p);
  wh_pool_entry e[3] = {{0}};
  assert_true(wh_pool_put(&p, "k", &e[0], 2, 0, 1000));
  assert_true(wh_pool_put(&p, "k", &e[1], 2, 0, 1000));
  assert_false(wh_pool_put(&p, "k", &e[2], 2, 0, 1000));
  assert_null(e[2].bucket);
  assert_int_equal(wh_pool_count(&p, "k"), 2);
  /* cap 0: never pooled */
  wh_pool_entry z = {0};
  assert_false(wh_pool_put(&p, "other", &z, 0, 0, 1000));
  /* an entry cannot be pooled twice */
  assert_false(wh_pool_put(&p, "k2", &e[0], 5, 0, 1000));
  wh_pool_free(&p);
}

static int closed;
static void close_fn(wh_pool_entry *e, void *ctx) {
  (void)ctx;
  assert_null(e->bucket);
  closed++;
}

static void test_idle_expiry(void **state) {
  (void)state;
  wh_pool p;
  wh_pool_init(&p);
  wh_pool_entry a = {0}, b = {0};
  assert_true(wh_pool_put(&p, "k", &a, 10, 0, 100));  /* expires at 100 */
  assert_true(wh_pool_put(&p, "k", &b, 10, 50, 100)); /* expires at 150 */
  closed = 0;
  assert_int_equal(wh_pool_expire(&p, 99, close_fn, NULL), 0);
  assert_int_equal(wh_pool_expire(&p, 100, close_fn, NULL), 1);
  assert_int_equal(closed, 1);
  assert_int_equal(wh_pool_count(&p, "k"), 1);
  /* an expired entry is never handed out, even before the sweep */
  assert_null(wh_pool_get(&p, "k", 200));
  assert_int_equal(wh_pool_expire(&p, 200, close_fn, NULL), 1);
  assert_int_equal(p.nidle, 0);
  wh_pool_free(&p);
}

static void test_remove_and_many_keys(void **state) {
  (void)state;
  wh_pool p;
  wh_pool_init(&p);
  enum { N = 300 };
  static wh_pool_entry e[N];
  char key[32];
  for (int i = 0; i < N; i++) {
    snprintf(key, sizeof(key), "10.0.%d.%d:80", i / 256, i % 256);
    assert_true(wh_pool_put(&p, key, &e[i], 2, 0, 0)); /* idle 0: no deadline */
  }
  assert_int_equal(p.nidle, N);
  wh_pool_remove(&p, &e[7]);
  wh_pool_remove(&p, &e[7]); /* no-op */
  assert_int_equal(p.nidle, N - 1);
  assert_null(wh_pool_get(&p, "10.0.0.7:80", 1));
  assert_ptr_equal(wh_pool_get(&p, "10.0.1.8:80", UINT64_MAX - 1), &e[264]);
  assert_int_equal(wh_pool_expire(&p, UINT64_MAX - 1, close_fn, NULL), 0);
  wh_pool_free(&p);
  assert_null(e[0].bucket);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lifo_per_key),
      cmocka_unit_test(test_cap),
      cmocka_unit_test(test_idle_expiry),
      cmocka_unit_test(test_remove_and_many_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
