#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <time.h>

#include "lib/observe/fmt.h"

/* dst holds n bytes of text, compared with the NUL-terminated want */
static void assert_text(const char *dst, size_t n, const char *want) {
  char got[128];
  assert_true(n < sizeof(got));
  memcpy(got, dst, n);
  got[n] = 0;
  assert_string_equal(got, want);
}

static void test_integers_match_printf(void **state) {
  (void)state;
  const uint64_t u[] = {0,
                        1,
                        9,
                        10,
                        99,
                        100,
                        101,
                        999,
                        1000,
                        12345678,
                        4294967295u,
                        4294967296u,
                        1000000000000000000u,
                        UINT64_MAX};
  char dst[WH_FMT_INT_MAX], want[32];
  for (size_t i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
    snprintf(want, sizeof(want), "%llu", (unsigned long long)u[i]);
    assert_text(dst, wh_fmt_u64(dst, u[i]), want);
  }
  const int64_t s[] = {0, -1, 7, -10, 2147483647, -2147483648LL, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
    snprintf(want, sizeof(want), "%lld", (long long)s[i]);
    assert_text(dst, wh_fmt_i64(dst, s[i]), want);
  }
  /* a pseudo-random sweep over every length */
  uint64_t x = 88172645463325252u;
  for (int i = 0; i < 10000; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint64_t v = x >> (i % 64);
    snprintf(want, sizeof(want), "%llu", (unsigned long long)v);
    assert_text(dst, wh_fmt_u64(dst, v), want);
  }
}

static void test_ipv4(void **state) {
  (void)state;
  char dst[16];
  assert_text(dst, wh_fmt_ipv4(dst, (const unsigned char[]){127, 0, 0, 1}), "127.0.0.1");
  assert_text(dst, wh_fmt_ipv4(dst, (const unsigned char[]){255, 255, 255, 255}),
              "255.255.255.255");
  assert_text(dst, wh_fmt_ipv4(dst, (const unsigned char[]){0, 10, 100, 9}), "0.10.100.9");
}

static void test_civil_matches_gmtime(void **state) {
  (void)state;
  /* every 0.37 day over a few centuries, both sides of 1970 */
  for (int64_t t = -4000000000LL; t < 8000000000LL; t += 31968) {
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(gmtime_r(&tt, &tm));
    wh_fmt_civil c;
    wh_fmt_civil_from_unix(t, &c);
    assert_int_equal(c.year, tm.tm_year + 1900);
    assert_int_equal(c.mon, tm.tm_mon + 1);
    assert_int_equal(c.day, tm.tm_mday);
    assert_int_equal(c.hour, tm.tm_hour);
    assert_int_equal(c.min, tm.tm_min);
    assert_int_equal(c.sec, tm.tm_sec);
  }
  assert_int_equal(wh_fmt_floor_div(-1, 1000000000), -1);
  assert_int_equal(wh_fmt_floor_div(-1000000000, 1000000000), -1);
  assert_int_equal(wh_fmt_floor_div(1999999999, 1000000000), 1);
}

static void test_go_layouts(void **state) {
  (void)state;
  char dst[WH_FMT_TIME_MAX];
  /* 2023-11-14T22:13:20Z */
  assert_text(dst, wh_fmt_clf_time(dst, 1700000000, 0), "14/Nov/2023:22:13:20 +0000");
  assert_text(dst, wh_fmt_clf_time(dst, 1700000000, 7200), "15/Nov/2023:00:13:20 +0200");
  assert_text(dst, wh_fmt_clf_time(dst, 1700000000, -(3 * 3600 + 1800)),
              "14/Nov/2023:18:43:20 -0330");
  assert_text(dst, wh_fmt_clf_time(dst, -1, 0), "31/Dec/1969:23:59:59 +0000");
  assert_text(dst, wh_fmt_rfc3339_secs(dst, 1700000000, 0), "2023-11-14T22:13:20");
  assert_text(dst, wh_fmt_rfc3339_secs(dst, 1700000000, 19800), "2023-11-15T03:43:20");
  /* years before 1000 keep four digits, as Go's 2006 does */
  assert_text(dst, wh_fmt_rfc3339_secs(dst, -62135596800LL, 0), "0001-01-01T00:00:00");
  assert_text(dst, wh_fmt_rfc3339_zone(dst, 0), "Z");
  assert_text(dst, wh_fmt_rfc3339_zone(dst, 7200), "+02:00");
  assert_text(dst, wh_fmt_rfc3339_zone(dst, -(9 * 3600 + 1800)), "-09:30");
  assert_text(dst, wh_fmt_frac_ns(dst, 0), "");
  assert_text(dst, wh_fmt_frac_ns(dst, 123456789), ".123456789");
  assert_text(dst, wh_fmt_frac_ns(dst, 100000000), ".1");
  assert_text(dst, wh_fmt_frac_ns(dst, 1), ".000000001");
  assert_text(dst, wh_fmt_frac_ns(dst, 120), ".00000012");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_integers_match_printf),
      cmocka_unit_test(test_ipv4),
      cmocka_unit_test(test_civil_matches_gmtime),
      cmocka_unit_test(test_go_layouts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
