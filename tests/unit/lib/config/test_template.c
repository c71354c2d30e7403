#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config/load.h"

static void expect_render(const char *in, const char *want) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  char *out = wh_template_render(in, "dyn.yml", &errs);
  if (!out)
    fail_msg("unexpected error: %s", errs.n ? errs.items[0] : "(none)");
  assert_int_equal(errs.n, 0);
  assert_string_equal(out, want);
  free(out);
  wh_errlist_free(&errs);
}

static void expect_error(const char *in, const char *msg) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_template_render(in, "dyn.yml", &errs));
  assert_int_equal(errs.n, 1);
  assert_string_equal(errs.items[0], msg);
  wh_errlist_free(&errs);
}

static int setup_env(void **state) {
  (void)state;
  setenv("WH_T_HOST", "example.com", 1);
  setenv("WH_T_EMPTY", "", 1);
  unsetenv("WH_T_UNSET");
  return 0;
}

static void test_plain_text_untouched(void **state) {
  (void)state;
  expect_render("", "");
  expect_render("a: b\n  c: 'd { } }}'\n", "a: b\n  c: 'd { } }}'\n");
  char *out = wh_template_render(NULL, NULL, NULL);
  assert_string_equal(out, "");
  free(out);
}

static void test_env(void **state) {
  (void)state;
  expect_render("rule: Host(`{{ env \"WH_T_HOST\" }}`)\n", "rule: Host(`example.com`)\n");
  expect_render("{{env `WH_T_HOST`}}", "example.com");
  expect_render("[{{ env \"WH_T_UNSET\" }}]", "[]"); /* unset -> "" like sprig */
}

static void test_default(void **state) {
  (void)state;
  expect_render("{{ env \"WH_T_UNSET\" | default \"d\" }}", "d");
  expect_render("{{ env \"WH_T_EMPTY\" | default `d` }}", "d");
  expect_render("{{ env \"WH_T_HOST\" | default \"d\" }}", "example.com");
  expect_render("{{ env \"WH_T_UNSET\" | default \"\" | default \"e\" }}", "e");
}

static void test_literals_and_escapes(void **state) {
  (void)state;
  expect_render("{{ \"{{ not a template }}\" }}", "{{ not a template }}");
  expect_render("{{ \"a\\tb\\\"c\\\\\\x41\" }}", "a\tb\"c\\A");
  expect_render("{{ `raw \\n` }}", "raw \\n");
}

static void test_comments(void **state) {
  (void)state;
  expect_render("a{{/* a comment */}}b", "ab");
  expect_render("a\n{{/* multi\nline */}}\nb", "a\n\nb");
}

static void test_comment_line_counting(void **state) {
  (void)state;
  expect_error("{{/* one\ntwo\n*/}}\n{{ .Values }}", "dyn.yml:4: unsupported template action "
                                                     "\"{{ .Values }}\"");
}

static void test_trim_markers(void **state) {
  (void)state;
  expect_render("a  \n {{- \"x\" -}} \n  b", "axb");
  expect_render("a {{- /* c */ -}} b", "ab");
  expect_render("a {{ \"x\" -}}\n b", "a xb");
}

static void test_unsupported_actions(void **state) {
  (void)state;
  expect_error("a: 1\nb: {{ .Name }}\n", "dyn.yml:2: unsupported template action \"{{ .Name }}\"");
  expect_error("{{ env \"A\" | upper }}", "dyn.yml:1: unsupported template action "
                                          "\"{{ env \"A\" | upper }}\"");
  expect_error("{{ if true }}x", "dyn.yml:1: unsupported template action \"{{ if true }}\"");
  expect_error("{{-3}}", "dyn.yml:1: unsupported template action \"{{ -3 }}\"");
  expect_error("{{ env }}", "dyn.yml:1: unsupported template action \"{{ env }}\"");
  expect_error("{{ \"a\" \"b\" }}", "dyn.yml:1: unsupported template action \"{{ \"a\" \"b\" }}\"");
}

static void test_empty_action(void **state) {
  (void)state;
  expect_error("x\n{{ }}", "dyn.yml:2: missing value for template action");
}

static void test_unterminated(void **state) {
  (void)state;
  expect_error("a: 1\n\nb: {{ env \"X\"\nc: 2\n",
               "dyn.yml:3: unterminated template action (missing \"}}\")");
  expect_error("a\n{{ \"abc }}\n\"}}", "dyn.yml:2: unterminated quoted string in template action");
  expect_error("{{/* never closed", "dyn.yml:1: unclosed comment");
  expect_error("{{/* c */ x}}", "dyn.yml:1: comment ends before closing delimiter");
}

static void test_bad_escape(void **state) {
  (void)state;
  expect_error("{{ \"\\q\" }}", "dyn.yml:1: invalid string literal \"\\q\"");
  expect_error("{{ \"\\x4\" }}", "dyn.yml:1: invalid string literal \"\\x4\"");
}

static void test_all_errors_reported(void **state) {
  (void)state;
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_template_render("{{ .A }}\n{{ env \"WH_T_HOST\" }}\n{{ .B }}\n", NULL, &errs));
  assert_int_equal(errs.n, 2);
  assert_string_equal(errs.items[0], "template:1: unsupported template action \"{{ .A }}\"");
  assert_string_equal(errs.items[1], "template:3: unsupported template action \"{{ .B }}\"");
  wh_errlist_free(&errs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plain_text_untouched),
      cmocka_unit_test(test_env),
      cmocka_unit_test(test_default),
      cmocka_unit_test(test_literals_and_escapes),
      cmocka_unit_test(test_comments),
      cmocka_unit_test(test_comment_line_counting),
      cmocka_unit_test(test_trim_markers),
      cmocka_unit_test(test_unsupported_actions),
      cmocka_unit_test(test_empty_action),
      cmocka_unit_test(test_unterminated),
      cmocka_unit_test(test_bad_escape),
      cmocka_unit_test(test_all_errors_reported),
  };
  return cmocka_run_group_tests(tests, setup_env, NULL);
}
