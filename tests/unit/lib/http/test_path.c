#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/http/path.h"

static void canon(const char *in, bool sanitize, const char *want) {
  bool bad = true;
  char *got = wh_path_canonical(in, strlen(in), sanitize, &bad);
  assert_false(bad);
  assert_non_null(got);
  assert_string_equal(got, want);
  free(got);
}

static void test_decoding(void **state) {
  (void)state;
  canon("/", true, "/");
  canon("", true, "/");
  canon("/a%62c", true, "/abc");
  canon("/a%2Fb", true, "/a%2Fb"); /* reserved stays encoded: /a%2Fb != /a/b */
  canon("/a%2fb", true, "/a%2Fb"); /* hex normalised to upper case */
  canon("/%3B", true, "/%3B");
  canon("/%00x", true, "/%00x");
  canon("/%25", true, "/%25");
  canon("/caf%C3%A9", true, "/caf\xc3\xa9");
  canon("/x%20y", true, "/x y");
}

static void test_dots(void **state) {
  (void)state;
  canon("/pub/../admin", true, "/admin");
  canon("/pub/%2e%2e/admin", true, "/admin");
  canon("/pub/%2E%2e/admin", true, "/admin");
  canon("//admin", true, "/admin");
  canon("/./admin", true, "/admin");
  canon("/../../etc/passwd", true, "/etc/passwd");
  canon("/a/b/..", true, "/a/");
  canon("/a/.", true, "/a/");
  canon("/a//b///c", true, "/a/b/c");
  canon("/a/..b/c", true, "/a/..b/c");
  canon("/..", true, "/");
  canon("/pub/../admin", false, "/pub/../admin");
}

static void test_bad(void **state) {
  (void)state;
  const char *bad_in[] = {"/%", "/%4", "/%zz", "/a%g0", "/%%"};
  for (size_t i = 0; i < sizeof(bad_in) / sizeof(bad_in[0]); i++) {
    bool bad = false;
    assert_null(wh_path_canonical(bad_in[i], strlen(bad_in[i]), true, &bad));
    assert_true(bad);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_decoding), cmocka_unit_test(test_dots),
                                     cmocka_unit_test(test_bad)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
