/* TCP matchers: HostSNI (exact, wildcard, catch-all), HostSNIRegexp, ALPN, ClientIP. */
#include "tests/unit/lib/rules/rules_test_util.h"

typedef struct tcase {
  const char *rule;
  wh_rule_syntax syn;
  tconn conn;
  bool want;
} tcase;

#define V2 WH_RULE_V2
#define V3 WH_RULE_V3

static const tcase cases[] = {
    {"HostSNI(`example.com`)", V3, {.sni = "example.com", .tls = true}, true},
    {"HostSNI(`example.com`)", V3, {.sni = "EXAMPLE.COM", .tls = true}, true},
    {"HostSNI(`Example.com`)", V3, {.sni = "example.com", .tls = true}, true},
    {"HostSNI(`example.com.`)", V3, {.sni = "example.com", .tls = true}, true},
    {"HostSNI(`example.com`)", V3, {.sni = "other.com", .tls = true}, false},
    {"HostSNI(`example.com`)", V3, {.sni = NULL, .tls = false}, false},
    {"HostSNI(`example.com`)", V3, {.sni = NULL, .tls = true}, false},
    {"HostSNI(`example.com`)", V3, {.sni = "", .tls = true}, false},
    {"HostSNI(`example.com`)", V3, {.sni = "example.com", .tls = false}, false},
    {"HostSNI(`*`)", V3, {.tls = false}, true},
    {"HostSNI(`*`)", V3, {.sni = "any.example", .tls = true}, true},
    {"HostSNI(`*`)", V3, {.tls = true}, true},
    {"HostSNI(`*`)", V2, {.tls = false}, true},
    {"HostSNI(`*.example.com`)", V3, {.sni = "a.example.com", .tls = true}, true},
    {"HostSNI(`*.example.com`)", V3, {.sni = "A.EXAMPLE.com", .tls = true}, true},
    {"HostSNI(`*.example.com`)", V3, {.sni = "a.b.example.com", .tls = true}, false},
    {"HostSNI(`*.example.com`)", V3, {.sni = "example.com", .tls = true}, false},
    {"HostSNI(`a_b-c.local:1`)", V3, {.sni = "a_b-c.local:1", .tls = true}, true},
    {"HostSNI(`10.0.0.1`)", V3, {.sni = "10.0.0.1", .tls = true}, true},
    {"HostSNIRegexp(`^[a-z]+\\.example\\.com$`)",
     V3,
     {.sni = "api.example.com", .tls = true},
     true},
    {"HostSNIRegexp(`^[a-z]+\\.example\\.com$`)",
     V3,
     {.sni = "API.example.com", .tls = true},
     true},
    {"HostSNIRegexp(`^[a-z]+\\.example\\.com$`)",
     V3,
     {.sni = "api1.example.com", .tls = true},
     false},
    {"HostSNIRegexp(`example`)", V3, {.sni = "www.example.org", .tls = true}, true},
    {"HostSNIRegexp(`.*`)", V3, {.tls = false}, false},
    {"HostSNIRegexp(`{sub:[a-z]+}.example.com`)",
     V2,
     {.sni = "API.example.com", .tls = true},
     true},
    {"HostSNIRegexp(`{sub:[a-z]+}.example.com`)",
     V2,
     {.sni = "x.y.example.com", .tls = true},
     false},
    {"HostSNIRegexp(`a.com`, `{x}.b.com`)", V2, {.sni = "q.b.com", .tls = true}, true},
    {"ALPN(`h2`)", V3, {.alpn = "h2,http/1.1", .tls = true}, true},
    {"ALPN(`h2`)", V3, {.alpn = "http/1.1", .tls = true}, false},
    {"ALPN(`h2`)", V3, {.alpn = NULL, .tls = true}, false},
    {"ALPN(`H2`)", V3, {.alpn = "h2", .tls = true}, false},
    {"ALPN(`h2`, `http/1.1`)", V2, {.alpn = "http/1.1", .tls = true}, true},
    {"ClientIP(`10.0.0.0/8`)", V3, {.client = "10.9.9.9"}, true},
    {"ClientIP(`10.0.0.0/8`)", V3, {.client = "::ffff:10.9.9.9"}, true},
    {"ClientIP(`10.0.0.0/8`)", V3, {.client = "192.168.1.1"}, false},
    {"ClientIP(`10.0.0.0/8`)", V3, {.client = NULL}, false},
    {"ClientIP(`fd00::/8`)", V3, {.client = "fd12::1"}, true},
    {"ClientIP(`10.0.0.1`, `fd00::/8`)", V2, {.client = "fe80::1"}, false},
    {"HostSNI(`a.com`, `b.com`)", V2, {.sni = "b.com", .tls = true}, true},
    {"HostSNI(`a.com`, `b.com`)", V2, {.sni = "c.com", .tls = true}, false},
    {"HostSNI(`a.com`) && ClientIP(`10.0.0.0/8`)",
     V3,
     {.sni = "a.com", .tls = true, .client = "10.1.1.1"},
     true},
    {"HostSNI(`a.com`) && ClientIP(`10.0.0.0/8`)",
     V3,
     {.sni = "a.com", .tls = true, .client = "11.1.1.1"},
     false},
    {"!HostSNI(`a.com`)", V3, {.sni = "b.com", .tls = true}, true},
    {"HostSNI(`a.com`) || ALPN(`h2`)", V3, {.sni = "b.com", .tls = true, .alpn = "h2"}, true},
    {"HostSNI(`*`) && !ClientIP(`10.0.0.0/8`)", V3, {.tls = false, .client = "10.0.0.1"}, false},
};

static void test_tcp(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    bool got = match_tcp(cases[i].rule, cases[i].syn, cases[i].conn);
    if (got != cases[i].want)
      fail_msg("case %zu: %s sni=%s -> %d, want %d", i, cases[i].rule,
               cases[i].conn.sni ? cases[i].conn.sni : "(null)", got, cases[i].want);
  }
}

static void test_tcp_edge(void **state) {
  (void)state;
  /* an SNI too long to be a DNS name never matches a name, but the catch-all still does */
  char sni[400];
  memset(sni, 'a', sizeof sni - 1);
  sni[sizeof sni - 1] = '\0';
  assert_false(match_tcp("HostSNIRegexp(`^a+$`)", V3, (tconn){.sni = sni, .tls = true}));
  assert_true(match_tcp("HostSNI(`*`)", V3, (tconn){.sni = sni, .tls = true}));
  /* HTTP rules never match connections */
  wh_rule *r = wh_rule_parse("ClientIP(`0.0.0.0/0`)", WH_RULE_HTTP, V3, NULL);
  assert_non_null(r);
  wh_tcp_conn_view v = {.is_tls = false};
  assert_false(wh_rule_match_tcp(r, &v));
  assert_false(wh_rule_match_tcp(NULL, &v));
  wh_rule_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_tcp), cmocka_unit_test(test_tcp_edge)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
