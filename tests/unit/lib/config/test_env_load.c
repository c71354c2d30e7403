#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/config/load.h"

static const char *const both[] = {"TRAEFIK_", "WHARF_"};

static wh_node *parse_ok(char **envp, const char *const *prefixes, size_t n) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_node *r = wh_env_parse(envp, prefixes, n, &errs);
  if (!r)
    fail_msg("unexpected error: %s", errs.n ? errs.items[0] : "(none)");
  assert_int_equal(errs.n, 0);
  wh_errlist_free(&errs);
  assert_int_equal(r->kind, WH_NODE_MAP);
  return r;
}

static void test_basic_variable(void **state) {
  (void)state;
  char *env[] = {"PATH=/bin", "TRAEFIK_ENTRYPOINTS_WEB_ADDRESS=:80", NULL};
  wh_node *r = parse_ok(env, both, 2);
  assert_int_equal(r->n, 1);
  wh_node *a = wh_node_get(wh_node_get(wh_node_get(r, "entrypoints", false), "web", false),
                           "address", false); /* lowercased */
  assert_non_null(a);
  assert_string_equal(a->value, ":80");
  assert_string_equal(a->source, "env");
  wh_node_free(r);
}

static void test_numeric_segments_are_map_keys(void **state) {
  (void)state;
  char *env[] = {"TRAEFIK_ENTRYPOINTS_WEB_HTTP_TLS_DOMAINS_0_MAIN=a.com",
                 "TRAEFIK_ENTRYPOINTS_WEB_HTTP_TLS_DOMAINS_1_MAIN=b.com", NULL};
  wh_node *r = parse_ok(env, both, 2);
  wh_node *d = wh_node_at(r, "entrypoints.web.http.tls.domains");
  assert_int_equal(d->kind, WH_NODE_MAP);
  assert_string_equal(d->children[0]->key, "0");
  assert_string_equal(wh_node_at(r, "entrypoints.web.http.tls.domains.1.main")->value, "b.com");
  wh_node_free(r);
}

static void test_wharf_overrides_traefik(void **state) {
  (void)state;
  char *env[] = {"WHARF_LOG_LEVEL=DEBUG", "TRAEFIK_LOG_LEVEL=ERROR", "TRAEFIK_LOG_FORMAT=json",
                 NULL};
  wh_node *r = parse_ok(env, both, 2);
  assert_string_equal(wh_node_at(r, "log.level")->value, "DEBUG");
  assert_string_equal(wh_node_at(r, "log.format")->value, "json");
  wh_node_free(r);
}

static void test_empty_name_and_other_vars_ignored(void **state) {
  (void)state;
  char *env[] = {"TRAEFIK_=x",    "TRAEFIK", "traefik_log_level=x", "HOME=/root", "NOEQUALS",
                 "MYTRAEFIK_X=1", NULL};
  wh_node *r = parse_ok(env, both, 2);
  assert_int_equal(r->n, 0);
  wh_node_free(r);
}

static void test_values_kept_verbatim(void **state) {
  (void)state;
  char *env[] = {"TRAEFIK_A=", "TRAEFIK_B=x=y=z", "TRAEFIK_C=Mixed Case", NULL};
  wh_node *r = parse_ok(env, both, 2);
  assert_string_equal(wh_node_at(r, "a")->value, "");
  assert_string_equal(wh_node_at(r, "b")->value, "x=y=z");
  assert_string_equal(wh_node_at(r, "c")->value, "Mixed Case");
  wh_node_free(r);
}

static void test_no_prefix_or_env(void **state) {
  (void)state;
  char *env[] = {"TRAEFIK_A=1", NULL};
  wh_node *r = parse_ok(env, NULL, 0);
  assert_int_equal(r->n, 0);
  wh_node_free(r);
  r = parse_ok(NULL, both, 2);
  assert_int_equal(r->n, 0);
  wh_node_free(r);
}

static void test_true_and_subkeys_any_order(void **state) {
  (void)state;
  char *env1[] = {"TRAEFIK_PROVIDERS_DOCKER=true", "TRAEFIK_PROVIDERS_DOCKER_NETWORK=web", NULL};
  char *env2[] = {"TRAEFIK_PROVIDERS_DOCKER_NETWORK=web", "TRAEFIK_PROVIDERS_DOCKER=true", NULL};
  char **envs[] = {env1, env2};
  for (int i = 0; i < 2; i++) {
    wh_node *r = parse_ok(envs[i], both, 2);
    assert_int_equal(wh_node_at(r, "providers.docker")->kind, WH_NODE_MAP);
    assert_string_equal(wh_node_at(r, "providers.docker.network")->value, "web");
    wh_node_free(r);
  }
}

static void test_empty_segment_rejected(void **state) {
  (void)state;
  char *env[] = {"TRAEFIK_A__B=1", "TRAEFIK_C_=1", "TRAEFIK__D=1", "TRAEFIK_OK=1", NULL};
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_env_parse(env, both, 2, &errs));
  assert_int_equal(errs.n, 3);
  assert_string_equal(errs.items[0], "environment variable TRAEFIK_A__B: empty key segment");
  assert_string_equal(errs.items[1], "environment variable TRAEFIK_C_: empty key segment");
  assert_string_equal(errs.items[2], "environment variable TRAEFIK__D: empty key segment");
  wh_errlist_free(&errs);
}

static void test_conflict_rejected(void **state) {
  (void)state;
  char *env[] = {"TRAEFIK_LOG_LEVEL=INFO", "TRAEFIK_LOG_LEVEL_X=1", NULL};
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_env_parse(env, both, 2, &errs));
  assert_int_equal(errs.n, 1);
  assert_string_equal(errs.items[0], "environment variable TRAEFIK_LOG_LEVEL_X: invalid key, or "
                                     "it conflicts with another variable");
  wh_errlist_free(&errs);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_basic_variable),
      cmocka_unit_test(test_numeric_segments_are_map_keys),
      cmocka_unit_test(test_wharf_overrides_traefik),
      cmocka_unit_test(test_empty_name_and_other_vars_ignored),
      cmocka_unit_test(test_values_kept_verbatim),
      cmocka_unit_test(test_no_prefix_or_env),
      cmocka_unit_test(test_true_and_subkeys_any_order),
      cmocka_unit_test(test_empty_segment_rejected),
      cmocka_unit_test(test_conflict_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
