/* Rule syntax: errors with exact positions, precedence, matcher-name casing, v2/v3 matcher sets,
 * canonical text, caps. */
#include "tests/unit/lib/rules/rules_test_util.h"

#define H WH_RULE_HTTP
#define T WH_RULE_TCP
#define V2 WH_RULE_V2
#define V3 WH_RULE_V3

typedef struct err_case {
  const char *rule;
  wh_rule_proto proto;
  wh_rule_syntax syn;
  size_t pos;
  const char *frag;
} err_case;

static const err_case errors[] = {
    {"Host(`a`) && )", H, V3, 13, "unexpected ')'"},
    {")", H, V3, 0, "unexpected ')'"},
    {"Host(`a`))", H, V3, 9, "unexpected ')'"},
    {"&& Host(`a`)", H, V3, 0, "unexpected '&&'"},
    {"|| Host(`a`)", H, V3, 0, "unexpected '||'"},
    {"Host(`a`) &&", H, V3, 12, "unexpected end of rule"},
    {"Host(`a`) || ", H, V3, 13, "unexpected end of rule"},
    {"!", H, V3, 1, "unexpected end of rule"},
    {"()", H, V3, 1, "unexpected ')'"},
    {"Host(`a`) & Path(`/`)", H, V3, 10, "unexpected '&' (did you mean '&&'?)"},
    {"Host(`a`) | Path(`/`)", H, V3, 10, "unexpected '|' (did you mean '||'?)"},
    {"Host(`a`) Path(`/`)", H, V3, 10, "expected '&&' or '||'"},
    {"Host(`a`) (Path(`/`))", H, V3, 10, "expected '&&' or '||'"},
    {"Host(`a`) `b`", H, V3, 10, "expected '&&' or '||'"},
    {"Host", H, V3, 4, "expected '(' after Host"},
    {"Host && Path(`/`)", H, V3, 5, "expected '(' after Host"},
    {"Host(`a`", H, V3, 8, "Host: missing ')'"},
    {"Host(`a` `b`)", H, V3, 9, "unexpected string"},
    {"Host(a)", H, V3, 5, "Host: expected a string argument"},
    {"Host(", H, V3, 5, "Host: expected a string argument"},
    {"Host(`a`,)", H, V3, 9, "unexpected ')'"},
    {"Host(,`a`)", H, V3, 5, "unexpected ','"},
    {"(Host(`a`)", H, V3, 0, "unclosed '('"},
    {"((Host(`a`))", H, V3, 0, "unclosed '('"},
    {"Host(`a`) @", H, V3, 10, "unexpected character '@'"},
    {"Host(`a`) \x01", H, V3, 10, "unexpected character 0x01"},
    {"Host(`abc", H, V3, 5, "unterminated string"},
    {"Host(\"abc", H, V3, 5, "unterminated string"},
    {"Host(\"a\nb\")", H, V3, 5, "unterminated string"},
    {"Host(\"ab\\", H, V3, 5, "unterminated string"},
    {"Host('a')", H, V3, 5, "single quotes are not allowed"},
    {"Host(\"a\\qb\")", H, V3, 7, "invalid escape sequence"},
    {"Host(\"a\\'\")", H, V3, 7, "invalid escape sequence"},
    {"Host(\"\\x4\")", H, V3, 6, "invalid escape sequence"},
    {"Host(\"\\u12\")", H, V3, 6, "invalid escape sequence"},
    {"Host(\"\\uD800\")", H, V3, 6, "invalid Unicode code point"},
    {"Host(\"\\U00110000\")", H, V3, 6, "invalid Unicode code point"},
    {"Host(\"\\x00\")", H, V3, 6, "NUL character not allowed"},
    {"Host(\"\\400\")", H, V3, 6, "invalid escape sequence"},
    {"Host(`\xff`)", H, V3, 6, "invalid UTF-8"},
    {"Hots(`a`)", H, V3, 0, "unknown matcher \"Hots\" (did you mean \"Host\"?)"},
    {"Path(`/`) || Pth(`/a`)", H, V3, 13, "unknown matcher \"Pth\" (did you mean \"Path\"?)"},
    {"hostRegexp(`x`)", H, V3, 0, "unknown matcher \"hostRegexp\" (did you mean \"HostRegexp\"?)"},
    {"HoSt(`a`)", H, V3, 0, "unknown matcher \"HoSt\""},
    {"Foo(`a`)", H, V3, 0, "unknown matcher \"Foo\""},
    {"Host(`a`, `b`)", H, V3, 0, "Host: expects 1 argument, got 2"},
    {"Method()", H, V3, 0, "Method: expects 1 argument, got 0"},
    {"Host()", H, V2, 0, "Host: expects at least 1 argument, got 0"},
    {"Header(`a`)", H, V3, 0, "Header: expects 2 arguments, got 1"},
    {"Headers(`a`,`b`,`c`)", H, V2, 0, "Headers: expects 2 arguments, got 3"},
    {"Query(`a`,`b`,`c`)", H, V3, 0, "Query: expects 1 or 2 arguments, got 3"},
    {"QueryRegexp(`a`)", H, V3, 0, "QueryRegexp: expects 2 arguments, got 1"},
    {"PathRegexp(`/a`,`/b`)", H, V3, 0, "PathRegexp: expects 1 argument, got 2"},
    {"ClientIP(`1.1.1.1`,`2.2.2.2`)", H, V3, 0, "ClientIP: expects 1 argument, got 2"},
    {"PathPrefix(`x`)", H, V3, 11, "PathPrefix: path must start with '/'"},
    {"Path(``)", H, V3, 5, "Path: path must start with '/'"},
    {"Path(`a`)", H, V2, 5, "Path: path must start with '/'"},
    {"Path(`/a`, `b`)", H, V2, 11, "Path: path must start with '/'"},
    {"HostRegexp(`(`)", H, V3, 0, "HostRegexp: invalid regular expression: "},
    {"Path(`/`) && PathRegexp(`[a`)", H, V3, 13, "PathRegexp: invalid regular expression"},
    {"HeaderRegexp(`X`, `a)`)", H, V3, 0, "HeaderRegexp: invalid regular expression"},
    {"HostRegexp(`{a`)", H, V2, 0, "HostRegexp: invalid template: unbalanced braces"},
    {"HostRegexp(`a}`)", H, V2, 0, "HostRegexp: invalid template: unbalanced braces"},
    {"HostRegexp(`{:x}.a`)", H, V2, 0, "missing name or pattern"},
    {"Path(`/{id:}`)", H, V2, 0, "missing name or pattern"},
    {"PathPrefix(`/{id:(}`)", H, V2, 0, "PathPrefix: invalid regular expression"},
    {"Host(`exämple.com`)", H, V3, 5, "Host: non-ASCII characters are not allowed"},
    {"Host(`a`, `é`)", H, V2, 10, "Host: non-ASCII"},
    {"Host(``)", H, V3, 5, "Host: empty host"},
    {"ClientIP(`1.2.3.300`)", H, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(`10.0.0.0/33`)", H, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(`::1/129`)", H, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(`fe80::1%eth0`)", H, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(`10.0.0.0/`)", H, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(`10.0.0.0/a`)", H, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(``)", H, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(`example.com`)", T, V3, 9, "ClientIP: invalid IP or CIDR"},
    {"ClientIP(`1.1.1.1`, `x`)", H, V2, 20, "ClientIP: invalid IP or CIDR"},
    {"Headers(`a`,`b`)", H, V3, 0, "Headers: not available in v3 rule syntax, use Header"},
    {"HeadersRegexp(`a`,`b`)", H, V3, 0, "use HeaderRegexp"},
    {"HostHeader(`a`)", H, V3, 0, "HostHeader: not available in v3 rule syntax, use Host"},
    {"hostheader(`a`)", H, V3, 0, "use Host"},
    {"PathRegexp(`/a`)", H, V2, 0, "PathRegexp: not available in v2 rule syntax"},
    {"Header(`a`,`b`)", H, V2, 0, "Header: not available in v2 rule syntax"},
    {"HeaderRegexp(`a`,`b`)", H, V2, 0, "HeaderRegexp: not available in v2"},
    {"QueryRegexp(`a`,`b`)", H, V2, 0, "QueryRegexp: not available in v2"},
    {"HostSNI(`a`)", H, V3, 0, "HostSNI: not an HTTP matcher"},
    {"ALPN(`h2`)", H, V2, 0, "ALPN: not an HTTP matcher"},
    {"Path(`/`)", T, V3, 0, "Path: not a TCP matcher"},
    {"HostSNI(`*`) && Host(`a`)", T, V3, 16, "Host: not a TCP matcher"},
    {"HostSNl(`a`)", T, V3, 0, "(did you mean \"HostSNI\"?)"},
    {"ALPN(`acme-tls/1`)", T, V3, 5, "ALPN: acme-tls/1 is reserved"},
    {"ALPN(`h2`, `acme-tls/1`)", T, V2, 11, "acme-tls/1 is reserved"},
    {"HostSNI(`a b`)", T, V3, 8, "HostSNI: \"a b\" is not a valid hostname"},
    {"HostSNI(``)", T, V3, 8, "is not a valid hostname"},
    {"HostSNI(`a/b`)", T, V3, 8, "is not a valid hostname"},
    {"HostSNI(`*.a`)", T, V2, 8, "is not a valid hostname"},
    {"HostSNI(`a.*.b`)", T, V3, 8, "is not a valid hostname"},
    {"HostSNI(`a`,`b`)", T, V3, 0, "HostSNI: expects 1 argument, got 2"},
    {"HostSNIRegexp(`(`)", T, V3, 0, "HostSNIRegexp: invalid regular expression"},
    {"HostSNIRegexp(`{x`)", T, V2, 0, "HostSNIRegexp: invalid template"},
    {"HostSNIRegexp(`é`)", T, V3, 14, "non-ASCII"},
};

static void test_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++)
    expect_error(errors[i].rule, errors[i].proto, errors[i].syn, errors[i].pos, errors[i].frag);
}

static void test_empty_rule(void **state) {
  (void)state;
  const char *empties[] = {"", "   ", "\t\n\r ", NULL};
  for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
    wh_rule_error err;
    assert_null(wh_rule_parse(empties[i], WH_RULE_HTTP, WH_RULE_V3, &err));
    assert_string_equal(err.msg, "empty rule");
    assert_int_equal(err.pos, 0);
  }
  /* a NULL error pointer is allowed */
  assert_null(wh_rule_parse("Host(", WH_RULE_HTTP, WH_RULE_V3, NULL));
}

static void test_bad_proto_or_syntax(void **state) {
  (void)state;
  wh_rule_error err;
  assert_null(wh_rule_parse("Host(`a`)", WH_RULE_HTTP, (wh_rule_syntax)4, &err));
  assert_non_null(strstr(err.msg, "invalid protocol or rule syntax"));
  assert_null(wh_rule_parse("Host(`a`)", (wh_rule_proto)7, WH_RULE_V3, &err));
}

static char *repeat(const char *pre, size_t n, const char *mid, const char *post, size_t m) {
  size_t lp = strlen(pre), lm = strlen(mid), lq = strlen(post);
  char *s = malloc(lp * n + lm + lq * m + 1), *o = s;
  for (size_t i = 0; i < n; i++, o += lp)
    memcpy(o, pre, lp);
  memcpy(o, mid, lm);
  o += lm;
  for (size_t i = 0; i < m; i++, o += lq)
    memcpy(o, post, lq);
  *o = '\0';
  return s;
}

static void test_caps(void **state) {
  (void)state;
  wh_rule_error err;
  /* 256 levels are fine, 257 are not, whichever way they nest */
  char *ok = repeat("(", 256, "Host(`a`)", ")", 256);
  wh_rule *r = wh_rule_parse(ok, WH_RULE_HTTP, WH_RULE_V3, &err);
  assert_non_null(r);
  wh_rule_free(r);
  free(ok);
  char *deep = repeat("(", 257, "Host(`a`)", ")", 257);
  expect_error(deep, H, V3, 256, "rule nesting too deep");
  free(deep);
  char *nots = repeat("!", 300, "Host(`a`)", "", 0);
  expect_error(nots, H, V3, 256, "rule nesting too deep");
  free(nots);
  char *mixed = repeat("!(", 200, "Host(`a`)", ")", 200);
  expect_error(mixed, H, V3, 256, "rule nesting too deep");
  free(mixed);
  /* Deep unbalanced input without a matcher: no stack overflow either. */
  char *opens = repeat("(", 60000, "", "", 0);
  expect_error(opens, H, V3, 256, "rule nesting too deep");
  free(opens);

  /* length cap: 64 KiB accepted, one more byte rejected */
  char *big = malloc(WH_RULE_MAX_LEN + 2);
  const char *head = "Path(`/";
  memcpy(big, head, strlen(head));
  memset(big + strlen(head), 'a', WH_RULE_MAX_LEN - strlen(head) - 2);
  memcpy(big + WH_RULE_MAX_LEN - 2, "`)", 3);
  assert_int_equal(strlen(big), WH_RULE_MAX_LEN);
  r = wh_rule_parse(big, WH_RULE_HTTP, WH_RULE_V3, &err);
  assert_non_null(r);
  wh_rule_free(r);
  memcpy(big + WH_RULE_MAX_LEN - 2, "a`)", 4);
  expect_error(big, H, V3, 0, "rule too long");
  free(big);

  /* A long flat chain is not nesting: 4000 terms parse and match. */
  char *chain = repeat("Path(`/x`) || ", 4000, "Path(`/y`)", "", 0);
  r = wh_rule_parse(chain, WH_RULE_HTTP, WH_RULE_V3, &err);
  assert_non_null(r);
  wh_http_req_view v = {.method = "GET", .path = "/y"};
  assert_true(wh_rule_match_http(r, &v));
  v.path = "/z";
  assert_false(wh_rule_match_http(r, &v));
  wh_rule_free(r);
  free(chain);
}

typedef struct canon_case {
  const char *rule;
  wh_rule_proto proto;
  wh_rule_syntax syn;
  const char *text;
} canon_case;

static const canon_case canons[] = {
    {"Host(`a`)", H, V3, "Host(`a`)"},
    {"host(`A`)", H, V3, "Host(`A`)"},
    {"HOST(`a`)", H, V3, "Host(`a`)"},
    {"Hostregexp(`a`)", H, V3, "HostRegexp(`a`)"},
    {"PATHPREFIX(`/`)", H, V3, "PathPrefix(`/`)"},
    {"pathprefix(`/`)", H, V3, "PathPrefix(`/`)"},
    {"Pathprefix(`/`)", H, V3, "PathPrefix(`/`)"},
    {"clientip(`1.1.1.1`)", H, V3, "ClientIP(`1.1.1.1`)"},
    {"Clientip(`1.1.1.1`)", T, V3, "ClientIP(`1.1.1.1`)"},
    {"hostsni(`a`)", T, V3, "HostSNI(`a`)"},
    {"Hostsniregexp(`a`)", T, V3, "HostSNIRegexp(`a`)"},
    {"alpn(`h2`)", T, V3, "ALPN(`h2`)"},
    {"Alpn(`h2`)", T, V3, "ALPN(`h2`)"},
    {"headers(`a`, `b`)", H, V2, "Headers(`a`, `b`)"},
    {"Host(`a`) || Host(`b`) && Path(`/x`)", H, V3, "(Host(`a`) || (Host(`b`) && Path(`/x`)))"},
    {"Host(`a`) && Host(`b`) || Path(`/x`)", H, V3, "((Host(`a`) && Host(`b`)) || Path(`/x`))"},
    {"!Host(`a`) && Path(`/x`)", H, V3, "(!Host(`a`) && Path(`/x`))"},
    {"!(Host(`a`) || Host(`b`))", H, V3, "!(Host(`a`) || Host(`b`))"},
    {"Host(`a`) && !(Path(`/x`) || Method(`GET`))", H, V3,
     "(Host(`a`) && !(Path(`/x`) || Method(`GET`)))"},
    {"Host(`a`) && Path(`/x`) && Method(`GET`)", H, V3,
     "(Host(`a`) && Path(`/x`) && Method(`GET`))"},
    {"(Host(`a`) && Path(`/x`)) && Method(`GET`)", H, V3,
     "((Host(`a`) && Path(`/x`)) && Method(`GET`))"},
    {"((((Host(`a`)))))", H, V3, "Host(`a`)"},
    {"!!Host(`a`)", H, V3, "!!Host(`a`)"},
    {"  Host( `a` )\n&&\tPath(`/`)  ", H, V3, "(Host(`a`) && Path(`/`))"},
    {"Path(\"/a\\x62\\u00e9\\n\")", H, V2, "Path(`/ab\xc3\xa9\n`)"},
    {"Host(\"a\\x62\")", H, V3, "Host(`ab`)"},
    {"Path(\"/a`b\")", H, V3, "Path(\"/a`b\")"},
    {"Path(\"/a\\\"\\\\b`\")", H, V3, "Path(\"/a\\\"\\\\b`\")"},
    {"Path(`/a\r\nb`)", H, V3, "Path(`/a\nb`)"},
    {"Path(\"/\\101\\t\")", H, V3, "Path(`/A\t`)"},
    {"Host(`a`,`b`)", H, V2, "Host(`a`, `b`)"},
    {"Path(\"/\\xff\\x01\")", H, V3, "Path(\"/\\xff\\x01\")"},
    {"Query(`a`)", H, V3, "Query(`a`)"},
    {"Query(`a`, `b`)", H, V3, "Query(`a`, `b`)"},
    {"HostSNI(`*`) || ALPN(`h2`) && !ClientIP(`::1`)", T, V3,
     "(HostSNI(`*`) || (ALPN(`h2`) && !ClientIP(`::1`)))"},
};

static void test_to_string(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof canons / sizeof canons[0]; i++) {
    char *s = canon(canons[i].rule, canons[i].proto, canons[i].syn);
    if (strcmp(s, canons[i].text) != 0)
      fail_msg("%s -> %s, expected %s", canons[i].rule, s, canons[i].text);
    /* the canonical text parses back to itself */
    char *again = canon(s, canons[i].proto, canons[i].syn);
    assert_string_equal(again, s);
    free(again);
    free(s);
  }
  assert_null(wh_rule_to_string(NULL));
}

static void test_precedence_semantics(void **state) {
  (void)state;
  const char *r1 = "Host(`a`) || Host(`b`) && Path(`/x`)";
  assert_true(match_http(r1, V3, (hreq){.host = "a", .path = "/"}));
  assert_false(match_http(r1, V3, (hreq){.host = "b", .path = "/"}));
  assert_true(match_http(r1, V3, (hreq){.host = "b", .path = "/x"}));
  const char *r2 = "!Host(`a`) && Path(`/x`)";
  assert_true(match_http(r2, V3, (hreq){.host = "b", .path = "/x"}));
  assert_false(match_http(r2, V3, (hreq){.host = "a", .path = "/x"}));
  assert_false(match_http(r2, V3, (hreq){.host = "b", .path = "/y"}));
  const char *r3 = "!(Host(`a`) || Host(`b`))";
  assert_true(match_http(r3, V3, (hreq){.host = "c"}));
  assert_false(match_http(r3, V3, (hreq){.host = "a"}));
  assert_false(match_http(r3, V3, (hreq){.host = "b"}));
  const char *r4 = "(Host(`a`) || Host(`b`)) && Path(`/x`)";
  assert_false(match_http(r4, V3, (hreq){.host = "a", .path = "/y"}));
  assert_true(match_http(r4, V3, (hreq){.host = "b", .path = "/x"}));
  assert_true(match_http("!!Host(`a`)", V3, (hreq){.host = "a"}));
  assert_false(match_http("!Host(`a`)", V3, (hreq){.host = "a"}));
  /* in v2 too */
  assert_true(match_http("Host(`a`) || Host(`b`) && Path(`/x`)", V2, (hreq){.host = "a"}));
  assert_false(match_http("!(Host(`a`,`b`))", V2, (hreq){.host = "b"}));
}

static void test_syntax_parse(void **state) {
  (void)state;
  wh_rule_syntax s = WH_RULE_V2;
  assert_int_equal(wh_rule_syntax_parse("v3", WH_RULE_V2, &s), 0);
  assert_int_equal(s, WH_RULE_V3);
  assert_int_equal(wh_rule_syntax_parse("v2", WH_RULE_V3, &s), 0);
  assert_int_equal(s, WH_RULE_V2);
  assert_int_equal(wh_rule_syntax_parse("", WH_RULE_V3, &s), 0);
  assert_int_equal(s, WH_RULE_V3);
  assert_int_equal(wh_rule_syntax_parse(NULL, WH_RULE_V2, &s), 0);
  assert_int_equal(s, WH_RULE_V2);
  s = WH_RULE_V3;
  assert_int_equal(wh_rule_syntax_parse("v4", WH_RULE_V3, &s), -1);
  assert_int_equal(wh_rule_syntax_parse("3", WH_RULE_V3, &s), -1);
  assert_int_equal(s, WH_RULE_V3);
}

static void test_getters(void **state) {
  (void)state;
  wh_rule *r = wh_rule_parse("HostSNI(`*`)", WH_RULE_TCP, WH_RULE_V2, NULL);
  assert_non_null(r);
  assert_int_equal(wh_rule_get_proto(r), WH_RULE_TCP);
  assert_int_equal(wh_rule_get_syntax(r), WH_RULE_V2);
  wh_rule_free(r);
  wh_rule_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_empty_rule),
      cmocka_unit_test(test_bad_proto_or_syntax),
      cmocka_unit_test(test_caps),
      cmocka_unit_test(test_to_string),
      cmocka_unit_test(test_precedence_semantics),
      cmocka_unit_test(test_syntax_parse),
      cmocka_unit_test(test_getters),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
