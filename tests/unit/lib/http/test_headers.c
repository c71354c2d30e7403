#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/core/err.h"
#include "lib/http/headers.h"

/* Renders the list as "Name: value|Name: value" to compare order at once. */
static char *dump(const wh_headers *h) {
  static char buf[4096];
  size_t off = 0;
  buf[0] = '\0';
  for (size_t i = 0; i < h->n; i++)
    off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s: %s", i ? "|" : "", h->v[i].name,
                            h->v[i].value);
  return buf;
}

static void test_add_get_case_insensitive(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  assert_int_equal(wh_headers_add_cstr(&h, "Content-Type", "text/plain"), WH_OK);
  assert_int_equal(wh_headers_add_cstr(&h, "X-Two", "a"), WH_OK);
  assert_int_equal(wh_headers_add_cstr(&h, "x-two", "b"), WH_OK);
  assert_string_equal(wh_headers_get(&h, "content-type"), "text/plain");
  assert_string_equal(wh_headers_get(&h, "CONTENT-TYPE"), "text/plain");
  assert_string_equal(wh_headers_get(&h, "X-TWO"), "a"); /* first value */
  assert_int_equal(wh_headers_count(&h, "X-Two"), 2);
  assert_int_equal(wh_headers_count(&h, "Content-Typ"), 0);
  assert_null(wh_headers_get(&h, "Content-Typ"));
  assert_null(wh_headers_get(&h, "Content-Type-X"));
  assert_string_equal(dump(&h), "Content-Type: text/plain|X-Two: a|x-two: b");
  wh_headers_free(&h);
}

static void test_values_trimmed_names_kept(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  assert_int_equal(wh_headers_add_cstr(&h, "x-MiXeD", " \t a  b \t "), WH_OK);
  assert_int_equal(wh_headers_add_cstr(&h, "Empty", "   "), WH_OK);
  assert_string_equal(h.v[0].name, "x-MiXeD");
  assert_int_equal(h.v[0].name_len, 7);
  assert_string_equal(h.v[0].value, "a  b");
  assert_int_equal(h.v[0].value_len, 4);
  assert_string_equal(h.v[1].value, "");
  assert_int_equal(h.v[1].value_len, 0);
  wh_headers_free(&h);
}

static void test_add_with_lengths(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  const char *raw = "Host: example.com\r\n";
  assert_int_equal(wh_headers_add(&h, raw, 4, raw + 5, 12), WH_OK); /* " example.com" */
  assert_string_equal(h.v[0].name, "Host");
  assert_string_equal(h.v[0].value, "example.com");
  assert_int_equal(wh_headers_add(&h, "X", 1, NULL, 0), WH_OK);
  assert_string_equal(wh_headers_get(&h, "x"), "");
  wh_headers_free(&h);
}

static void test_bad_arguments(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  assert_int_equal(wh_headers_add(&h, NULL, 0, "v", 1), WH_EINVAL);
  assert_int_equal(wh_headers_add_cstr(&h, NULL, "v"), WH_EINVAL);
  assert_int_equal(wh_headers_set(&h, NULL, "v"), WH_EINVAL);
  assert_int_equal(h.n, 0);
  assert_int_equal(wh_headers_add_cstr(&h, "A", NULL), WH_OK);
  assert_string_equal(wh_headers_get(&h, "A"), "");
  assert_int_equal(wh_headers_remove(&h, NULL), 0);
  assert_null(wh_headers_get(&h, NULL));
  assert_int_equal(wh_headers_count(&h, NULL), 0);
  assert_false(wh_headers_has_token(&h, NULL, "x"));
  assert_int_equal(h.n, 1);
  wh_headers_free(&h);
}

/* The micro check of order: set and remove never reorder other fields. */
static void test_set_keeps_first_position(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "A", "1");
  wh_headers_add_cstr(&h, "X-Dup", "old1");
  wh_headers_add_cstr(&h, "B", "2");
  wh_headers_add_cstr(&h, "x-dup", "old2");
  wh_headers_add_cstr(&h, "C", "3");
  assert_int_equal(wh_headers_set(&h, "X-Dup", "new"), WH_OK);
  assert_string_equal(dump(&h), "A: 1|X-Dup: new|B: 2|C: 3");
  assert_int_equal(wh_headers_count(&h, "x-dup"), 1);
  wh_headers_free(&h);
}

static void test_set_appends_when_absent(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "A", "1");
  assert_int_equal(wh_headers_set(&h, "Z", " z "), WH_OK);
  assert_string_equal(dump(&h), "A: 1|Z: z");
  wh_headers_free(&h);
}

static void test_set_adopts_caller_spelling(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "x-forwarded-for", "1.1.1.1");
  assert_int_equal(wh_headers_set(&h, "X-Forwarded-For", "2.2.2.2"), WH_OK);
  assert_string_equal(dump(&h), "X-Forwarded-For: 2.2.2.2");
  assert_int_equal(h.v[0].name_len, strlen("X-Forwarded-For"));
  wh_headers_free(&h);
}

static void test_remove_keeps_order(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "Gone", "x");
  wh_headers_add_cstr(&h, "A", "1");
  wh_headers_add_cstr(&h, "GONE", "y");
  wh_headers_add_cstr(&h, "B", "2");
  wh_headers_add_cstr(&h, "gone", "z");
  assert_int_equal(wh_headers_remove(&h, "gOnE"), 3);
  assert_string_equal(dump(&h), "A: 1|B: 2");
  assert_int_equal(wh_headers_remove(&h, "gone"), 0);
  assert_int_equal(wh_headers_remove(&h, "Gon"), 0);
  assert_string_equal(dump(&h), "A: 1|B: 2");
  wh_headers_free(&h);
}

static void test_clear_keeps_capacity(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  for (int i = 0; i < 40; i++)
    wh_headers_add_cstr(&h, "N", "v");
  size_t cap = h.cap;
  wh_header *v = h.v;
  assert_true(cap >= 40);
  wh_headers_clear(&h);
  assert_int_equal(h.n, 0);
  assert_int_equal(h.cap, cap);
  assert_ptr_equal(h.v, v);
  assert_null(wh_headers_get(&h, "N"));
  wh_headers_add_cstr(&h, "After", "clear");
  assert_string_equal(dump(&h), "After: clear");
  wh_headers_free(&h);
  assert_null(h.v);
  assert_int_equal(h.n, 0);
  assert_int_equal(h.cap, 0);
  wh_headers_free(&h); /* freeing an emptied list again is harmless */
}

static void test_growth_preserves_order(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  char name[32], value[32];
  for (int i = 0; i < 300; i++) {
    snprintf(name, sizeof name, "H%d", i);
    snprintf(value, sizeof value, "%d", i * 7);
    assert_int_equal(wh_headers_add_cstr(&h, name, value), WH_OK);
  }
  assert_int_equal(h.n, 300);
  for (int i = 0; i < 300; i++) {
    snprintf(name, sizeof name, "H%d", i);
    snprintf(value, sizeof value, "%d", i * 7);
    assert_string_equal(h.v[i].name, name);
    assert_string_equal(h.v[i].value, value);
  }
  wh_headers_free(&h);
}

static void test_has_token(void **state) {
  (void)state;
  wh_headers h;
  wh_headers_init(&h);
  wh_headers_add_cstr(&h, "Connection", "keep-alive,\tUpgrade ");
  wh_headers_add_cstr(&h, "connection", " ,, X-Custom");
  wh_headers_add_cstr(&h, "Other", "close");
  assert_true(wh_headers_has_token(&h, "Connection", "upgrade"));
  assert_true(wh_headers_has_token(&h, "CONNECTION", "Keep-Alive"));
  assert_true(wh_headers_has_token(&h, "Connection", "x-custom")); /* second field */
  assert_false(wh_headers_has_token(&h, "Connection", "upgrad"));
  assert_false(wh_headers_has_token(&h, "Connection", "pgrade"));
  assert_false(wh_headers_has_token(&h, "Connection", "keep"));
  assert_false(wh_headers_has_token(&h, "Connection", "close")); /* other field's token */
  assert_false(wh_headers_has_token(&h, "Connection", ""));
  assert_false(wh_headers_has_token(&h, "Missing", "close"));
  wh_headers_free(&h);
}

static void test_value_has_token_slices(void **state) {
  (void)state;
  const char *v = "a, bb ,c";
  assert_true(wh_header_value_has_token(v, strlen(v), "BB", 2));
  assert_true(wh_header_value_has_token(v, strlen(v), "c", 1));
  assert_false(wh_header_value_has_token(v, 4, "bb", 2)); /* "a, b" only */
  assert_false(wh_header_value_has_token(v, strlen(v), "a, bb", 5));
  assert_false(wh_header_value_has_token("", 0, "a", 1));
  assert_false(wh_header_value_has_token(NULL, 3, "a", 1));
  assert_false(wh_header_value_has_token(v, strlen(v), "a", 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_add_get_case_insensitive),
      cmocka_unit_test(test_values_trimmed_names_kept),
      cmocka_unit_test(test_add_with_lengths),
      cmocka_unit_test(test_bad_arguments),
      cmocka_unit_test(test_set_keeps_first_position),
      cmocka_unit_test(test_set_appends_when_absent),
      cmocka_unit_test(test_set_adopts_caller_spelling),
      cmocka_unit_test(test_remove_keeps_order),
      cmocka_unit_test(test_clear_keeps_capacity),
      cmocka_unit_test(test_growth_preserves_order),
      cmocka_unit_test(test_has_token),
      cmocka_unit_test(test_value_has_token_slices),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
