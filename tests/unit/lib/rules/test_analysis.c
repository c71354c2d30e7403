/* Questions about parsed rules: exact-host sets, matcher use, catch-all SNI, ACME host values. */
#include "tests/unit/lib/rules/rules_test_util.h"

typedef struct hosts_case {
  const char *rule;
  wh_rule_syntax syn;
  const char *want; /* comma-separated, in order; "" = not indexable */
} hosts_case;

static const hosts_case hcases[] = {
    {"Host(`a.com`)", WH_RULE_V3, "a.com"},
    {"Host(`A.Com`)", WH_RULE_V3, "a.com"},
    {"Host(`a.com.`)", WH_RULE_V3, "a.com"},
    {"Host(`a`) && Path(`/x`)", WH_RULE_V3, "a"},
    {"Path(`/x`) && Host(`a`)", WH_RULE_V3, "a"},
    {"Host(`a`) || Host(`b`)", WH_RULE_V3, "a,b"},
    {"Host(`a`) || Host(`a.`)", WH_RULE_V3, "a"},
    {"Host(`a`,`b`)", WH_RULE_V2, "a,b"},
    {"HostHeader(`a`)", WH_RULE_V2, "a"},
    {"(Host(`a`) || Host(`b`)) && (Host(`b`) || Host(`c`))", WH_RULE_V3, "b"},
    {"Host(`a`) && HostRegexp(`x`)", WH_RULE_V3, "a"},
    {"(Host(`a`) && Path(`/`)) || (Host(`b`) && Method(`GET`))", WH_RULE_V3, "a,b"},
    {"Host(`a`) || Path(`/x`)", WH_RULE_V3, ""},
    {"!Host(`a`)", WH_RULE_V3, ""},
    {"!!Host(`a`)", WH_RULE_V3, ""},
    {"Path(`/x`)", WH_RULE_V3, ""},
    {"Host(`*.a.com`)", WH_RULE_V3, ""},
    {"Host(`*`)", WH_RULE_V3, ""},
    {"Host(`*`) && Path(`/`)", WH_RULE_V3, ""},
    {"HostRegexp(`^a$`)", WH_RULE_V3, ""},
    {"Host(`a`) && Host(`b`)", WH_RULE_V3, ""},
    {"Host(`a`) || Host(`*.b`)", WH_RULE_V3, ""},
};

static void test_exact_hosts(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof hcases / sizeof hcases[0]; i++) {
    wh_rule_error err;
    wh_rule *r = wh_rule_parse(hcases[i].rule, WH_RULE_HTTP, hcases[i].syn, &err);
    if (!r)
      fail_msg("%s: %s", hcases[i].rule, err.msg);
    const char *const *hosts = NULL;
    size_t n = wh_rule_exact_hosts(r, &hosts);
    char got[256] = "";
    for (size_t k = 0; k < n; k++) {
      if (k)
        strcat(got, ",");
      strcat(got, hosts[k]);
    }
    if (strcmp(got, hcases[i].want) != 0)
      fail_msg("%s: hosts \"%s\", want \"%s\"", hcases[i].rule, got, hcases[i].want);
    wh_rule_free(r);
  }
  /* TCP rules have no host index */
  wh_rule *r = wh_rule_parse("HostSNI(`a`)", WH_RULE_TCP, WH_RULE_V3, NULL);
  const char *const *hosts = (const char *const *)"x";
  assert_int_equal(wh_rule_exact_hosts(r, &hosts), 0);
  assert_null(hosts);
  wh_rule_free(r);
}

static bool uses(const char *rule, wh_rule_proto p, wh_rule_syntax s, const char *m) {
  wh_rule *r = wh_rule_parse(rule, p, s, NULL);
  assert_non_null(r);
  bool u = wh_rule_uses(r, m);
  wh_rule_free(r);
  return u;
}

static void test_uses(void **state) {
  (void)state;
  const char *r = "Host(`a`) && (Path(`/`) || !Query(`a`))";
  assert_true(uses(r, WH_RULE_HTTP, WH_RULE_V3, "Host"));
  assert_true(uses(r, WH_RULE_HTTP, WH_RULE_V3, "Path"));
  assert_true(uses(r, WH_RULE_HTTP, WH_RULE_V3, "Query"));
  assert_false(uses(r, WH_RULE_HTTP, WH_RULE_V3, "PathPrefix"));
  assert_false(uses(r, WH_RULE_HTTP, WH_RULE_V3, "ClientIP"));
  assert_false(uses(r, WH_RULE_HTTP, WH_RULE_V3, "host"));
  assert_true(uses("hostheader(`a`)", WH_RULE_HTTP, WH_RULE_V2, "Host"));
  assert_true(uses("HostHeader(`a`)", WH_RULE_HTTP, WH_RULE_V2, "HostHeader"));
  const char *t = "HostSNI(`*`) && !ClientIP(`1.2.3.4`)";
  assert_true(uses(t, WH_RULE_TCP, WH_RULE_V3, "HostSNI"));
  assert_true(uses(t, WH_RULE_TCP, WH_RULE_V3, "ClientIP"));
  assert_false(uses(t, WH_RULE_TCP, WH_RULE_V3, "ALPN"));
  assert_false(wh_rule_uses(NULL, "Host"));
}

static bool catchall(const char *rule, wh_rule_syntax s) {
  wh_rule *r = wh_rule_parse(rule, WH_RULE_TCP, s, NULL);
  assert_non_null(r);
  bool c = wh_rule_is_catchall_sni(r);
  wh_rule_free(r);
  return c;
}

static void test_catchall(void **state) {
  (void)state;
  assert_true(catchall("HostSNI(`*`)", WH_RULE_V3));
  assert_true(catchall("hostsni(`*`)", WH_RULE_V3));
  assert_true(catchall("  (HostSNI(`*`))  ", WH_RULE_V3));
  assert_true(catchall("HostSNI(`*`)", WH_RULE_V2));
  assert_false(catchall("HostSNI(`a`)", WH_RULE_V3));
  assert_false(catchall("HostSNI(`*.a`)", WH_RULE_V3));
  assert_false(catchall("HostSNI(`*`) && ALPN(`h2`)", WH_RULE_V3));
  assert_false(catchall("HostSNI(`*`) || HostSNI(`a`)", WH_RULE_V3));
  assert_false(catchall("!HostSNI(`*`)", WH_RULE_V3));
  assert_false(catchall("HostSNI(`*`, `a`)", WH_RULE_V2));
  assert_false(wh_rule_is_catchall_sni(NULL));
}

static void expect_values(const char *rule, wh_rule_proto p, wh_rule_syntax s, const char *want) {
  wh_rule *r = wh_rule_parse(rule, p, s, NULL);
  assert_non_null(r);
  char **v = (char **)1;
  size_t n = wh_rule_host_values(r, &v);
  char got[256] = "";
  for (size_t i = 0; i < n; i++) {
    if (i)
      strcat(got, ",");
    strcat(got, v[i]);
    free(v[i]);
  }
  if (n == 0)
    assert_null(v);
  free(v);
  wh_rule_free(r);
  if (strcmp(got, want) != 0)
    fail_msg("%s: values \"%s\", want \"%s\"", rule, got, want);
}

static void test_host_values(void **state) {
  (void)state;
  expect_values("Host(`A.com`) || (Host(`b.com`) && Path(`/`))", WH_RULE_HTTP, WH_RULE_V3,
                "a.com,b.com");
  expect_values("Host(`a`,`b`) || HostHeader(`c`)", WH_RULE_HTTP, WH_RULE_V2, "a,b,c");
  expect_values("!Host(`*.x.com`)", WH_RULE_HTTP, WH_RULE_V3, "*.x.com");
  expect_values("HostSNI(`x.com`) || HostSNI(`*.y.com`)", WH_RULE_TCP, WH_RULE_V3, "x.com,*.y.com");
  expect_values("Path(`/`)", WH_RULE_HTTP, WH_RULE_V3, "");
  expect_values("HostRegexp(`a`)", WH_RULE_HTTP, WH_RULE_V3, "");
  expect_values("ClientIP(`::1`)", WH_RULE_TCP, WH_RULE_V3, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_exact_hosts),
      cmocka_unit_test(test_uses),
      cmocka_unit_test(test_catchall),
      cmocka_unit_test(test_host_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
