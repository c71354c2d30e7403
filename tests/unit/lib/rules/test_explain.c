/* wh_rule_explain_http / _tcp: the same verdict as the real matcher for every rule and request
 * of a grid, and readable messages naming the failing matcher. */
#include "tests/unit/lib/rules/rules_test_util.h"

#include "lib/rules/explain.h"

typedef struct view_buf {
  char hbuf[1024];
  const char *names[16], *values[16];
  struct sockaddr_storage ss;
  wh_http_req_view v;
} view_buf;

static void make_view(view_buf *b, hreq q) {
  size_t nh = 0;
  if (q.headers) {
    snprintf(b->hbuf, sizeof b->hbuf, "%s", q.headers);
    for (char *line = strtok(b->hbuf, "\n"); line && nh < 16; line = strtok(NULL, "\n")) {
      char *colon = strchr(line, ':');
      assert_non_null(colon);
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ')
        v++;
      b->names[nh] = line;
      b->values[nh++] = v;
    }
  }
  if (q.client)
    test_sockaddr(q.client, &b->ss);
  b->v = (wh_http_req_view){
      .method = q.method ? q.method : "GET",
      .host = q.host,
      .path = q.path ? q.path : "/",
      .query = q.query,
      .nheaders = nh,
      .hdr_names = b->names,
      .hdr_values = b->values,
      .client = q.client ? (const struct sockaddr *)&b->ss : NULL,
  };
}

/* Explains rule against q; checks the answer agrees with wh_rule_match_http. Caller frees. */
static wh_rule_why explain(const char *rule, wh_rule_syntax syn, hreq q) {
  wh_rule_error err;
  wh_rule *r = wh_rule_parse(rule, WH_RULE_HTTP, syn, &err);
  if (!r)
    fail_msg("parse of %s failed: %s", rule, err.msg);
  view_buf b;
  make_view(&b, q);
  wh_rule_why w;
  assert_int_equal(wh_rule_explain_http(r, rule, &b.v, &w), 0);
  bool real = wh_rule_match_http(r, &b.v);
  if (real != w.matched)
    fail_msg("rule %s: matcher says %d, explain says %d", rule, real, w.matched);
  if (!w.matched && (!w.reason || !w.matcher || !w.request))
    fail_msg("rule %s: no reason", rule);
  if (w.matched && (w.reason || w.matcher || w.request))
    fail_msg("rule %s: reason on a match", rule);
  wh_rule_free(r);
  return w;
}

static void expect_reason(const char *rule, wh_rule_syntax syn, hreq q, const char *matcher,
                          const char *reason) {
  wh_rule_why w = explain(rule, syn, q);
  if (w.matched)
    fail_msg("rule %s matched", rule);
  if (matcher && strcmp(w.matcher, matcher) != 0)
    fail_msg("rule %s: matcher \"%s\", expected \"%s\"", rule, w.matcher, matcher);
  if (strcmp(w.reason, reason) != 0)
    fail_msg("rule %s: reason \"%s\", expected \"%s\"", rule, w.reason, reason);
  wh_rule_why_free(&w);
}

static const char *const v3_rules[] = {
    "Host(`a.example`)",
    "Host(`A.Example.`)",
    "Host(`*.example`)",
    "Host(`*`)",
    "HostRegexp(`^[a-z]+\\.example$`)",
    "Path(`/x`)",
    "PathPrefix(`/api`)",
    "PathRegexp(`^/v[0-9]+/`)",
    "Method(`POST`)",
    "Header(`X-Env`, `prod`)",
    "HeaderRegexp(`X-Env`, `^st`)",
    "Query(`a`, `1`)",
    "Query(`flag`)",
    "QueryRegexp(`a`, `^[0-9]+$`)",
    "ClientIP(`10.0.0.0/8`)",
    "ClientIP(`::1`)",
    "Host(`a.example`) && PathPrefix(`/api`)",
    "Host(`a.example`) || Host(`b.example`)",
    "!Path(`/x`)",
    "!(Path(`/x`) || Method(`POST`))",
    "(Host(`a.example`) || HostRegexp(`^b`)) && !Header(`X-Env`, `prod`) && Method(`GET`)",
    "Host(`a.example`) && (Query(`a`, `1`) || ClientIP(`127.0.0.1`)) && !PathPrefix(`/api/x`)",
    "!(!(Host(`a.example`)))",
    "host(`a.example`) && pathprefix(`/api`)",
};

static const char *const v2_rules[] = {
    "Host(`a.example`, `b.example`)",
    "HostHeader(`a.example`)",
    "HostRegexp(`{sub:[a-z]+}.example`)",
    "Path(`/x`, `/y`)",
    "PathPrefix(`/api/{id:[0-9]+}`)",
    "Method(`GET`, `POST`)",
    "Headers(`X-Env`, `prod`)",
    "HeadersRegexp(`X-Env`, `^st`)",
    "Query(`a=1`, `flag`)",
    "Query(`a={n:[0-9]+}`)",
    "ClientIP(`10.0.0.0/8`, `::1`)",
    "Host(`a.example`) && !Method(`POST`)",
};

static const hreq requests[] = {
    {.host = "a.example", .path = "/"},
    {.host = "a.example:8080", .path = "/api/users", .client = "127.0.0.1"},
    {.host = "b.example", .path = "/x", .method = "POST"},
    {.host = "c.example", .path = "/v2/items", .query = "a=1&flag"},
    {.host = "A.EXAMPLE.", .path = "/api/x/1", .headers = "X-Env: prod"},
    {.host = "x.y.example", .path = "/api/12", .headers = "x-env: staging\nX-Env: prod"},
    {.host = NULL, .path = "/x", .client = "10.1.2.3"},
    {.host = "", .path = "/y", .query = "a=abc", .client = "::1"},
    {.host = "[::1]:80", .path = "/api", .method = "GET", .client = "::ffff:10.0.0.1"},
    {.host = "a.example", .path = "/api/x", .query = "a=1", .headers = "X-Env: st"},
};

static void test_equivalence_with_matcher(void **state) {
  (void)state;
  size_t nreq = sizeof requests / sizeof requests[0], checked = 0, matched = 0;
  for (size_t i = 0; i < sizeof v3_rules / sizeof v3_rules[0]; i++)
    for (size_t j = 0; j < nreq; j++) {
      wh_rule_why w = explain(v3_rules[i], WH_RULE_V3, requests[j]);
      matched += w.matched;
      checked++;
      wh_rule_why_free(&w);
    }
  for (size_t i = 0; i < sizeof v2_rules / sizeof v2_rules[0]; i++)
    for (size_t j = 0; j < nreq; j++) {
      wh_rule_why w = explain(v2_rules[i], WH_RULE_V2, requests[j]);
      matched += w.matched;
      checked++;
      wh_rule_why_free(&w);
    }
  /* the grid must exercise both answers */
  assert_true(matched > 20);
  assert_true(checked - matched > 20);
}

static void test_leaf_messages(void **state) {
  (void)state;
  hreq q = {.host = "b.example", .path = "/x", .method = "GET", .client = "192.168.1.5"};
  expect_reason("Host(`a.example`)", WH_RULE_V3, q, "Host(`a.example`)",
                "Host(`a.example`) did not match host b.example");
  expect_reason("PathPrefix(`/api`)", WH_RULE_V3, q, "PathPrefix(`/api`)",
                "PathPrefix(`/api`) did not match path /x");
  expect_reason("Method(`POST`)", WH_RULE_V3, q, NULL, "Method(`POST`) did not match method GET");
  expect_reason("Header(`X-Env`, `prod`)", WH_RULE_V3, q, NULL,
                "Header(`X-Env`, `prod`) did not match: no X-Env header");
  hreq qh = {.host = "b.example", .path = "/", .headers = "X-Env: staging\nx-env: dev"};
  expect_reason("Header(`X-Env`, `prod`)", WH_RULE_V3, qh, NULL,
                "Header(`X-Env`, `prod`) did not match header X-Env: staging, dev");
  expect_reason("Query(`a`, `1`)", WH_RULE_V3, q, NULL,
                "Query(`a`, `1`) did not match: no query string");
  hreq qq = {.host = "b.example", .path = "/", .query = "a=2"};
  expect_reason("Query(`a`, `1`)", WH_RULE_V3, qq, NULL, "Query(`a`, `1`) did not match query a=2");
  expect_reason("ClientIP(`10.0.0.0/8`)", WH_RULE_V3, q, NULL,
                "ClientIP(`10.0.0.0/8`) did not match client 192.168.1.5");
  hreq nc = {.host = "b.example", .path = "/"};
  expect_reason("ClientIP(`10.0.0.0/8`)", WH_RULE_V3, nc, NULL,
                "ClientIP(`10.0.0.0/8`) did not match: no client address");
  hreq nh = {.path = "/"};
  expect_reason("Host(`a.example`)", WH_RULE_V3, nh, NULL,
                "Host(`a.example`) did not match: no Host header");
  /* the host as the matcher compares it: lowercased, port removed */
  hreq port = {.host = "B.Example:8443", .path = "/"};
  expect_reason("HostRegexp(`^a`)", WH_RULE_V3, port, NULL,
                "HostRegexp(`^a`) did not match host b.example");
}

static void test_combinations(void **state) {
  (void)state;
  hreq q = {.host = "a.example", .path = "/x", .method = "GET"};
  /* And: the first failing operand */
  expect_reason("Host(`a.example`) && PathPrefix(`/api`) && Method(`POST`)", WH_RULE_V3, q,
                "PathPrefix(`/api`)", "PathPrefix(`/api`) did not match path /x");
  /* Or: every alternative */
  expect_reason("Host(`b.example`) || Path(`/y`)", WH_RULE_V3, q, "Host(`b.example`)",
                "no alternative matched: Host(`b.example`) did not match host a.example; "
                "Path(`/y`) did not match path /x");
  /* Not: the operand matched */
  expect_reason("!Path(`/x`)", WH_RULE_V3, q, "!Path(`/x`)",
                "!Path(`/x`) did not match: Path(`/x`) matched path /x");
  expect_reason("Host(`a.example`) && !(Method(`GET`) && Path(`/x`))", WH_RULE_V3, q,
                "!(Method(`GET`) && Path(`/x`))",
                "!(Method(`GET`) && Path(`/x`)) did not match: Method(`GET`) matched method GET "
                "and Path(`/x`) matched path /x");
  /* matchers quoted as written, not in canonical form */
  expect_reason("host(`A.example`)  &&  PATHPREFIX( `/api` )", WH_RULE_V3, q,
                "PATHPREFIX( `/api` )", "PATHPREFIX( `/api` ) did not match path /x");
  /* v2 variadic matchers and aliases */
  expect_reason("HostHeader(`b.example`, `c.example`)", WH_RULE_V2, q,
                "HostHeader(`b.example`, `c.example`)",
                "HostHeader(`b.example`, `c.example`) did not match host a.example");
}

static void test_canonical_without_source(void **state) {
  (void)state;
  wh_rule *r = wh_rule_parse("path(\"/a`b\")", WH_RULE_HTTP, WH_RULE_V3, NULL);
  assert_non_null(r);
  view_buf b;
  make_view(&b, (hreq){.host = "h", .path = "/"});
  wh_rule_why w;
  assert_int_equal(wh_rule_explain_http(r, NULL, &b.v, &w), 0);
  assert_false(w.matched);
  assert_string_equal(w.matcher, "Path(\"/a`b\")");
  wh_rule_why_free(&w);
  /* a source that is not the rule's falls back to the canonical form */
  assert_int_equal(wh_rule_explain_http(r, "Host(`x`)", &b.v, &w), 0);
  assert_string_equal(w.matcher, "Path(\"/a`b\")");
  wh_rule_why_free(&w);
  /* the wrong protocol never matches */
  wh_tcp_conn_view tv = {.sni = "h", .is_tls = true};
  assert_int_equal(wh_rule_explain_tcp(r, NULL, &tv, &w), 0);
  assert_false(w.matched);
  assert_string_equal(w.reason, "not a TCP rule");
  wh_rule_why_free(&w);
  wh_rule_free(r);
}

static void test_long_and_control_values(void **state) {
  (void)state;
  char host[400];
  memset(host, 'a', sizeof host - 1);
  host[sizeof host - 1] = '\0';
  hreq q = {.host = host, .path = "/a\tb"};
  wh_rule_why w = explain("Host(`x`) || Path(`/`)", WH_RULE_V3, q);
  assert_false(w.matched);
  assert_non_null(strstr(w.reason, "...;"));
  assert_non_null(strstr(w.reason, "path /a?b"));
  wh_rule_why_free(&w);
}

static const char *const tcp_rules[] = {
    "HostSNI(`a.example`)",
    "HostSNI(`*`)",
    "HostSNI(`*.example`)",
    "HostSNIRegexp(`^a`)",
    "ALPN(`h2`)",
    "ClientIP(`10.0.0.0/8`)",
    "HostSNI(`a.example`) && ALPN(`h2`)",
    "HostSNI(`a.example`) || !ClientIP(`127.0.0.1`)",
};

static void test_tcp(void **state) {
  (void)state;
  const tconn conns[] = {
      {.sni = "a.example", .tls = true, .alpn = "h2,http/1.1", .client = "127.0.0.1"},
      {.sni = "b.example", .tls = true, .client = "10.1.1.1"},
      {.tls = false, .client = "127.0.0.1"},
      {.sni = "x.example", .tls = true, .alpn = "http/1.1"},
  };
  for (size_t i = 0; i < sizeof tcp_rules / sizeof tcp_rules[0]; i++) {
    wh_rule *r = wh_rule_parse(tcp_rules[i], WH_RULE_TCP, WH_RULE_V3, NULL);
    assert_non_null(r);
    for (size_t j = 0; j < sizeof conns / sizeof conns[0]; j++) {
      bool real = match_tcp(tcp_rules[i], WH_RULE_V3, conns[j]);
      char abuf[64];
      const char *alpn[4];
      size_t na = 0;
      if (conns[j].alpn) {
        snprintf(abuf, sizeof abuf, "%s", conns[j].alpn);
        for (char *p = strtok(abuf, ","); p && na < 4; p = strtok(NULL, ","))
          alpn[na++] = p;
      }
      struct sockaddr_storage ss;
      if (conns[j].client)
        test_sockaddr(conns[j].client, &ss);
      wh_tcp_conn_view v = {.sni = conns[j].sni,
                            .is_tls = conns[j].tls,
                            .alpn = alpn,
                            .nalpn = na,
                            .client = conns[j].client ? (struct sockaddr *)&ss : NULL};
      wh_rule_why w;
      assert_int_equal(wh_rule_explain_tcp(r, tcp_rules[i], &v, &w), 0);
      if (real != w.matched)
        fail_msg("tcp rule %s conn %zu: matcher %d explain %d", tcp_rules[i], j, real, w.matched);
      if (i == 0 && j == 2)
        assert_string_equal(w.reason,
                            "HostSNI(`a.example`) did not match: no SNI (not a TLS connection)");
      if (i == 4 && j == 3)
        assert_string_equal(w.reason, "ALPN(`h2`) did not match ALPN http/1.1");
      wh_rule_why_free(&w);
    }
    wh_rule_free(r);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_equivalence_with_matcher),
      cmocka_unit_test(test_leaf_messages),
      cmocka_unit_test(test_combinations),
      cmocka_unit_test(test_canonical_without_source),
      cmocka_unit_test(test_long_and_control_values),
      cmocka_unit_test(test_tcp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
