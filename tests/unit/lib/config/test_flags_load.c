#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config/load.h"

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static wh_node *parse_ok(int argc, char **argv) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_node *r = wh_flags_parse(argc, argv, &errs);
  if (!r)
    fail_msg("unexpected error: %s", errs.n ? errs.items[0] : "(none)");
  assert_int_equal(errs.n, 0);
  wh_errlist_free(&errs);
  assert_int_equal(r->kind, WH_NODE_MAP);
  return r;
}

static void expect_errors(int argc, char **argv, const char *const *msgs, size_t n) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_flags_parse(argc, argv, &errs));
  assert_int_equal(errs.n, n);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(errs.items[i], msgs[i]);
  wh_errlist_free(&errs);
}

static void test_nested_flags(void **state) {
  (void)state;
  char *argv[] = {"--entryPoints.web.address=:80", "--entryPoints.websecure.address=:443",
                  "--log.level=DEBUG"};
  wh_node *r = parse_ok(ARGC(argv), argv);
  wh_node *a = wh_node_at(r, "entrypoints.web.address");
  assert_string_equal(a->value, ":80");
  assert_string_equal(a->source, "flags");
  assert_string_equal(r->children[0]->key, "entryPoints"); /* spelling kept */
  assert_string_equal(wh_node_at(r, "log.level")->value, "DEBUG");
  assert_int_equal(wh_node_at(r, "entryPoints")->n, 2);
  wh_node_free(r);
}

static void test_values_with_equals_and_empty(void **state) {
  (void)state;
  char *argv[] = {"--a.rule=Host(`x`) && Query(`a=b`)", "--b="};
  wh_node *r = parse_ok(ARGC(argv), argv);
  assert_string_equal(wh_node_at(r, "a.rule")->value, "Host(`x`) && Query(`a=b`)");
  assert_string_equal(wh_node_at(r, "b")->value, "");
  wh_node_free(r);
}

static void test_bare_flag_is_null(void **state) {
  (void)state;
  char *argv[] = {"--api.insecure"};
  wh_node *r = parse_ok(ARGC(argv), argv);
  wh_node *n = wh_node_at(r, "api.insecure");
  assert_int_equal(n->kind, WH_NODE_SCALAR);
  assert_null(n->value);
  wh_node_free(r);
}

static void test_bare_then_subkeys(void **state) {
  (void)state;
  char *argv[] = {"--providers.docker", "--providers.docker.exposedByDefault=false"};
  wh_node *r = parse_ok(ARGC(argv), argv);
  assert_int_equal(wh_node_at(r, "providers.docker")->kind, WH_NODE_MAP);
  assert_string_equal(wh_node_at(r, "providers.docker.exposedbydefault")->value, "false");
  wh_node_free(r);
}

static void test_config_file_skipped(void **state) {
  (void)state;
  char *argv[] = {"--configFile=/etc/x.yml", "--CONFIGFILE=/y", "--configfile", "--ping"};
  wh_node *r = parse_ok(ARGC(argv), argv);
  assert_int_equal(r->n, 1);
  assert_non_null(wh_node_get(r, "ping", false));
  wh_node_free(r);
}

static void test_repeated_flag_last_wins(void **state) {
  (void)state;
  char *argv[] = {"--log.level=INFO", "--LOG.LEVEL=ERROR"};
  wh_node *r = parse_ok(ARGC(argv), argv);
  assert_int_equal(wh_node_at(r, "log")->n, 1);
  assert_string_equal(wh_node_at(r, "log.level")->value, "ERROR");
  wh_node_free(r);
}

static void test_bracket_indices(void **state) {
  (void)state;
  char *argv[] = {"--entryPoints.web.http.tls.domains[0].main=a.com",
                  "--entryPoints.web.http.tls.domains[0].sans=b.a.com,c.a.com"};
  wh_node *r = parse_ok(ARGC(argv), argv);
  wh_node *d = wh_node_at(r, "entryPoints.web.http.tls.domains.0");
  assert_non_null(d);
  assert_int_equal(d->n, 2);
  assert_string_equal(wh_node_get(d, "sans", false)->value, "b.a.com,c.a.com");
  wh_node_free(r);
}

static void test_no_flags_gives_empty_map(void **state) {
  (void)state;
  wh_node *r = parse_ok(0, NULL);
  assert_int_equal(r->n, 0);
  wh_node_free(r);
}

static void test_single_dash_and_positional_rejected(void **state) {
  (void)state;
  char *argv[] = {"-x", "serve", "--", "---a=1", "--=v", "--ok=1"};
  const char *msgs[] = {"unexpected argument \"-x\"", "unexpected argument \"serve\"",
                        "unexpected argument \"--\"", "unexpected argument \"---a=1\"",
                        "unexpected argument \"--=v\""};
  expect_errors(ARGC(argv), argv, msgs, 5);
}

static void test_empty_segment_rejected(void **state) {
  (void)state;
  char *argv[] = {"--a..b=1", "--.a=1", "--a.=1"};
  const char *msgs[] = {"flag \"--a..b=1\": empty key segment",
                        "flag \"--.a=1\": empty key segment", "flag \"--a.=1\": empty key segment"};
  expect_errors(ARGC(argv), argv, msgs, 3);
}

static void test_conflicting_flags_rejected(void **state) {
  (void)state;
  char *argv[] = {"--entryPoints.web.address=:80", "--entryPoints.web.address.x=1", "--a.b[x]=1"};
  const char *msgs[] = {
      "flag \"--entryPoints.web.address.x=1\": invalid key, or it conflicts with an earlier flag",
      "flag \"--a.b[x]=1\": invalid key, or it conflicts with an earlier flag"};
  expect_errors(ARGC(argv), argv, msgs, 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_nested_flags),
      cmocka_unit_test(test_values_with_equals_and_empty),
      cmocka_unit_test(test_bare_flag_is_null),
      cmocka_unit_test(test_bare_then_subkeys),
      cmocka_unit_test(test_config_file_skipped),
      cmocka_unit_test(test_repeated_flag_last_wins),
      cmocka_unit_test(test_bracket_indices),
      cmocka_unit_test(test_no_flags_gives_empty_map),
      cmocka_unit_test(test_single_dash_and_positional_rejected),
      cmocka_unit_test(test_empty_segment_rejected),
      cmocka_unit_test(test_conflicting_flags_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
