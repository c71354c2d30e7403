#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/core/duration.h"
#include "lib/core/err.h"
#include "lib/core/str.h"

static void dur_ok(const char *s, wh_duration want) {
  wh_duration d = -12345;
  assert_int_equal(wh_duration_parse(s, &d), WH_OK);
  assert_true(d == want);
}

static void test_duration_parse(void **state) {
  (void)state;
  dur_ok("10s", 10 * WH_SEC);
  dur_ok("100ms", 100 * WH_MS);
  dur_ok("1m30s", 90 * WH_SEC);
  dur_ok("1h", 3600 * WH_SEC);
  dur_ok("1.5s", 1500 * WH_MS);
  dur_ok("2us", 2 * WH_US);
  dur_ok("7ns", 7);
  dur_ok("10", 10 * WH_SEC); /* bare integer: seconds, as Traefik */
  dur_ok("0", 0);
  dur_ok("-5s", -5 * WH_SEC);
  dur_ok("2160h", 2160LL * 3600 * WH_SEC);
}

static void test_duration_bad(void **state) {
  (void)state;
  wh_duration d;
  const char *bad[] = {"",     "s", "10x", "1..2s", "abc", "10 s", "99999999999999999999h",
                       "1.s.", "-"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_int_equal(wh_duration_parse(bad[i], &d), WH_EINVAL);
}

static void fmt_is(wh_duration d, const char *want) {
  char buf[32];
  wh_duration_format(d, buf, sizeof(buf));
  assert_string_equal(buf, want);
}

static void test_duration_format(void **state) {
  (void)state;
  fmt_is(0, "0s");
  fmt_is(10 * WH_SEC, "10s");
  fmt_is(100 * WH_MS, "100ms");
  fmt_is(90 * WH_SEC, "1m30s");
  fmt_is(3600 * WH_SEC, "1h0m0s");
  fmt_is(1500 * WH_MS, "1.5s");
  fmt_is(-5 * WH_SEC, "-5s");
  fmt_is(2 * WH_US, "2us");
  fmt_is(7, "7ns");
}

static void test_suggest(void **state) {
  (void)state;
  const char *c[] = {"address", "asDefault", "http", "transport", "forwardedHeaders"};
  assert_string_equal(wh_str_suggest("adress", c, 5), "address");
  assert_string_equal(wh_str_suggest("ADDRES", c, 5), "address");
  assert_string_equal(wh_str_suggest("forwardedheader", c, 5), "forwardedHeaders");
  assert_null(wh_str_suggest("zzzzzzzzzzzz", c, 5));
  assert_int_equal(wh_str_distance("kitten", "sitting"), 3);
}

static void test_split(void **state) {
  (void)state;
  char **v;
  size_t n;
  assert_int_equal(wh_str_split(" a, b ,,c ", ',', &v, &n), WH_OK);
  assert_int_equal(n, 3);
  assert_string_equal(v[0], "a");
  assert_string_equal(v[1], "b");
  assert_string_equal(v[2], "c");
  wh_strv_free(v, n);
  assert_int_equal(wh_str_split("", ',', &v, &n), WH_OK);
  assert_int_equal(n, 0);
  wh_strv_free(v, n);
}

static void test_utf8_and_credentials(void **state) {
  (void)state;
  uint32_t cp = 0;
  assert_int_equal(wh_utf8_seq((const unsigned char *)"A", 1, &cp), 1);
  assert_int_equal(cp, 'A');
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\xc3\xa9", 2, &cp), 2);
  assert_int_equal(cp, 0xe9);
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\xe2\x80\xa8", 3, &cp), 3);
  assert_int_equal(cp, 0x2028);
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\xf0\x9f\x98\x80", 4, &cp), 4);
  assert_int_equal(cp, 0x1f600);
  /* invalid: overlong, surrogate, beyond U+10FFFF, truncated, stray continuation */
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\xc0\xaf", 2, &cp), 0);
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\xed\xa0\x80", 3, &cp), 0);
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\xf4\x90\x80\x80", 4, &cp), 0);
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\xc3\xa9", 1, &cp), 0);
  assert_int_equal(wh_utf8_seq((const unsigned char *)"\x80", 1, &cp), 0);
  assert_true(wh_header_is_credential("authorization"));
  assert_true(wh_header_is_credential("Set-Cookie"));
  assert_true(wh_header_is_credential("PROXY-AUTHORIZATION"));
  assert_false(wh_header_is_credential("X-Authorization-Hint"));
  assert_false(wh_header_is_credential(NULL));
}

static void test_strbuf_errlist(void **state) {
  (void)state;
  wh_strbuf b = {0};
  assert_string_equal(wh_strbuf_cstr(&b), "");
  wh_strbuf_printf(&b, "%s=%d", "x", 42);
  wh_strbuf_puts(&b, ";");
  char *s = wh_strbuf_take(&b);
  assert_string_equal(s, "x=42;");
  free(s);
  wh_errlist l;
  wh_errlist_init(&l);
  for (int i = 0; i < 10; i++)
    wh_errlist_add(&l, "e%d", i);
  wh_errlist l2;
  wh_errlist_init(&l2);
  wh_errlist_extend(&l2, &l, "p: ");
  assert_int_equal(l2.n, 10);
  assert_string_equal(l2.items[9], "p: e9");
  wh_errlist_free(&l);
  wh_errlist_free(&l2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_duration_parse),
      cmocka_unit_test(test_duration_bad),
      cmocka_unit_test(test_duration_format),
      cmocka_unit_test(test_suggest),
      cmocka_unit_test(test_split),
      cmocka_unit_test(test_strbuf_errlist),
      cmocka_unit_test(test_utf8_and_credentials),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
