/* lib/tls/file_watch: which files are recorded, and which changes are seen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/tls/file_watch.h"

static char dir[64];

static void path_of(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

static void write_file(const char *name, const char *text) {
  char p[128];
  path_of(p, sizeof(p), name);
  FILE *f = fopen(p, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/wh-fw-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  const char *names[] = {"a.pem", "b.pem", "c.pem", "moved.pem"};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char p[128];
    path_of(p, sizeof(p), names[i]);
    unlink(p);
  }
  return rmdir(dir);
}

static void test_records_paths_once_and_skips_inline_pem(void **state) {
  (void)state;
  write_file("a.pem", "one");
  char a[128];
  path_of(a, sizeof(a), "a.pem");
  wh_file_watch *w = wh_file_watch_new();
  assert_non_null(w);
  wh_file_watch_add(w, a);
  wh_file_watch_add(w, a);
  wh_file_watch_add(w, NULL);
  wh_file_watch_add(w, "");
  wh_file_watch_add(w, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  assert_int_equal(wh_file_watch_count(w), 1);
  assert_false(wh_file_watch_changed(w));
  wh_file_watch_free(w);
  assert_false(wh_file_watch_changed(NULL));
  wh_file_watch_free(NULL);
}

static void test_sees_rewrites_renames_appearance_and_removal(void **state) {
  (void)state;
  char a[128], b[128], moved[128];
  path_of(a, sizeof(a), "a.pem");
  path_of(b, sizeof(b), "b.pem");
  path_of(moved, sizeof(moved), "moved.pem");
  write_file("a.pem", "one");
  unlink(b);

  /* a rewrite of another size */
  wh_file_watch *w = wh_file_watch_new();
  wh_file_watch_add(w, a);
  write_file("a.pem", "one, renewed");
  assert_true(wh_file_watch_changed(w));
  wh_file_watch_free(w);

  /* a file renamed over (a new inode, even with the same size and mtime second) */
  w = wh_file_watch_new();
  wh_file_watch_add(w, a);
  write_file("moved.pem", "one, renewed");
  assert_int_equal(rename(moved, a), 0);
  assert_true(wh_file_watch_changed(w));
  wh_file_watch_free(w);

  /* a missing file that appears, then goes away again */
  w = wh_file_watch_new();
  wh_file_watch_add(w, b);
  assert_int_equal(wh_file_watch_count(w), 1);
  assert_false(wh_file_watch_changed(w));
  write_file("b.pem", "new");
  assert_true(wh_file_watch_changed(w));
  wh_file_watch_free(w);
  w = wh_file_watch_new();
  wh_file_watch_add(w, b);
  assert_int_equal(unlink(b), 0);
  assert_true(wh_file_watch_changed(w));
  wh_file_watch_free(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_records_paths_once_and_skips_inline_pem),
      cmocka_unit_test(test_sees_rewrites_renames_appearance_and_removal),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
