/* Sticky cookie names, values, Cookie header parsing and Set-Cookie
 * (lib/lb/sticky.c); known values from Traefik's cookie tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/lb/sticky.h"

static void test_name_generated(void **state) {
  (void)state;
  char *n = wh_lb_sticky_name(NULL, "/my/BACKEND-v1.0~rc1");
  assert_string_equal(n, "_5f7bc");
  free(n);
  n = wh_lb_sticky_name("", "whoami@docker");
  assert_string_equal(n, "_633ff");
  free(n);
}

static void test_name_sanitised(void **state) {
  (void)state;
  char *n = wh_lb_sticky_name("/my/BACKEND-v1.0~rc1", "ignored");
  assert_string_equal(n, "_my_BACKEND-v1.0~rc1");
  free(n);
  n = wh_lb_sticky_name("a b;c=d,\"e\"\xc3\xa9!#$%&'*+^`|~", NULL);
  assert_string_equal(n, "a_b_c_d__e___!#$%&'*+^`|~");
  free(n);
}

static void test_values(void **state) {
  (void)state;
  char v[17];
  wh_lb_sticky_value("http://10.0.0.1:80", v);
  assert_string_equal(v, "df5bd2f9c0180410");
  wh_lb_sticky_legacy_value("http://10.0.0.1:80", v);
  assert_string_equal(v, "c2e8df179a351d87");
  wh_lb_sticky_legacy_value("", v); /* FNV offset basis */
  assert_string_equal(v, "cbf29ce484222325");
}

static void expect_cookie(const char *header, const char *name, const char *want) {
  size_t len = 0;
  const char *v = wh_lb_cookie_get(header, name, &len);
  if (!want) {
    assert_null(v);
    return;
  }
  assert_non_null(v);
  assert_int_equal(len, strlen(want));
  assert_memory_equal(v, want, len);
}

static void test_cookie_header_parsing(void **state) {
  (void)state;
  expect_cookie("a=1", "a", "1");
  expect_cookie("a=1; b=2;c=3", "c", "3");
  expect_cookie("  b = 2 ;a=x", "a", "x");
  expect_cookie("ab=1; a=2", "a", "2");
  expect_cookie("a=\"quoted\"", "a", "quoted");
  expect_cookie("a=; a=2", "a", "");
  expect_cookie("a=1; a=2", "a", "1");
  expect_cookie("x=1;;; a=ok", "a", "ok");
  expect_cookie("a", "a", "");
}

static void test_cookie_header_bad_input(void **state) {
  (void)state;
  expect_cookie(NULL, "a", NULL);
  expect_cookie("", "a", NULL);
  expect_cookie("b=1", "a", NULL);
  expect_cookie("A=1", "a", NULL); /* names are case-sensitive */
  expect_cookie("a=x\\y; a=good", "a", "good");
  expect_cookie("a=\"x\"y\"", "a", NULL);
  expect_cookie("a=\" x\"", "a", NULL);
  expect_cookie("a=1", "", NULL);
}

static void test_set_cookie_minimal(void **state) {
  (void)state;
  char *s = wh_lb_sticky_set_cookie("n", "v", NULL);
  assert_string_equal(s, "n=v; Path=/");
  free(s);
  wh_cookie c = {0};
  s = wh_lb_sticky_set_cookie("n", "v", &c);
  assert_string_equal(s, "n=v");
  free(s);
}

static void test_set_cookie_attributes(void **state) {
  (void)state;
  wh_cookie c = {.secure = true,
                 .http_only = true,
                 .same_site = (char *)"Strict",
                 .max_age = 60,
                 .path = (char *)"/a;b\x01",
                 .domain = (char *)".example.com"};
  char *s = wh_lb_sticky_set_cookie("n", "v", &c);
  assert_string_equal(s, "n=v; Path=/ab; Domain=example.com; Max-Age=60; HttpOnly; Secure; "
                         "SameSite=Strict");
  free(s);
  wh_cookie d = {.same_site = (char *)"none",
                 .max_age = -1,
                 .path = (char *)"/",
                 .domain = (char *)"bad domain;x"};
  s = wh_lb_sticky_set_cookie("n", "v", &d);
  assert_string_equal(s, "n=v; Path=/; Max-Age=0; SameSite=None");
  free(s);
  wh_cookie e = {.same_site = (char *)"bogus", .path = (char *)"/"};
  s = wh_lb_sticky_set_cookie("n", "v", &e);
  assert_string_equal(s, "n=v; Path=/");
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_name_generated),
      cmocka_unit_test(test_name_sanitised),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_cookie_header_parsing),
      cmocka_unit_test(test_cookie_header_bad_input),
      cmocka_unit_test(test_set_cookie_minimal),
      cmocka_unit_test(test_set_cookie_attributes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
