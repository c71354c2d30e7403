/* Go regexp dialect on PCRE2: what Go accepts works the same, PCRE-only syntax is refused,
 * backtracking is bounded, matching is thread-safe. */
#include <pthread.h>

#include "tests/unit/lib/rules/rules_test_util.h"

static bool re_ok(const char *re) {
  char rule[256];
  snprintf(rule, sizeof rule, "PathRegexp(`%s`)", re);
  wh_rule_error err;
  wh_rule *r = wh_rule_parse(rule, WH_RULE_HTTP, WH_RULE_V3, &err);
  wh_rule_free(r);
  return r != NULL;
}

static void test_accepted(void **state) {
  (void)state;
  const char *ok[] = {"(?i)abc", "(?P<n>a)",     "(?<n>a)", "(?:a|b)+", "[[:alpha:]]+",
                      "\\pL",    "\\p{Greek}",   "a{2,3}",  "a{2,}",    "a*?",
                      "a+?b??",  "x{",           "x{a}",    "\\Q.*\\E", "[]a]",
                      "[^]a]",   "\\x41\\x{42}", "(?s:.)",  "(?im-s)a", "\\d\\D\\w\\W\\s\\S\\b\\B",
                      "\\A\\z",  "[\\d\\-]",     "a|"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!re_ok(ok[i]))
      fail_msg("pattern %s was refused", ok[i]);
}

static void test_refused(void **state) {
  (void)state;
  struct {
    const char *re, *frag;
  } bad[] = {
      {"(a)\\1", "backreferences are not supported"},
      {"(?=a)", "unsupported Perl syntax"},
      {"(?!a)", "unsupported Perl syntax"},
      {"(?<=a)b", "unsupported Perl syntax"},
      {"(?<!a)b", "unsupported Perl syntax"},
      {"(?>a)", "unsupported Perl syntax"},
      {"(?R)", "unsupported Perl syntax"},
      {"(?x)a", "unsupported Perl syntax"},
      {"(?#c)", "unsupported Perl syntax"},
      {"(?P=n)", "unsupported Perl syntax"},
      {"a++", "invalid nested repetition operator"},
      {"a*+", "invalid nested repetition operator"},
      {"a**", "invalid nested repetition operator"},
      {"a{2}{3}", "invalid nested repetition operator"},
      {"a*?+", "invalid nested repetition operator"},
      {"a\\K", "invalid escape sequence"},
      {"a\\Z", "invalid escape sequence"},
      {"\\g1", "invalid escape sequence"},
      {"\\e", "invalid escape sequence"},
      {"[a", "missing closing ]"},
      {"a\\", "trailing backslash"},
      {"(a", "invalid regular expression"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char rule[256];
    snprintf(rule, sizeof rule, "Path(`/`) || PathRegexp(`%s`)", bad[i].re);
    expect_error(rule, WH_RULE_HTTP, WH_RULE_V3, 13, bad[i].frag);
  }
}

static void test_semantics(void **state) {
  (void)state;
  const wh_rule_syntax V3 = WH_RULE_V3;
  /* '$' is the end of text, as in Go, not "before a final newline" */
  assert_false(match_http("PathRegexp(`a$`)", V3, (hreq){.path = "/a\n"}));
  assert_true(match_http("PathRegexp(`a$`)", V3, (hreq){.path = "/a"}));
  assert_true(match_http("PathRegexp(`(?m)a$`)", V3, (hreq){.path = "/a\n"}));
  /* \v is the vertical-tab character in Go */
  assert_true(match_http("PathRegexp(`\\v`)", V3, (hreq){.path = "/\v"}));
  assert_false(match_http("PathRegexp(`\\v`)", V3, (hreq){.path = "/\n"}));
  assert_true(match_http("PathRegexp(`^/x{$`)", V3, (hreq){.path = "/x{"}));
  assert_true(match_http("PathRegexp(`^/\\Q.*\\E$`)", V3, (hreq){.path = "/.*"}));
  assert_false(match_http("PathRegexp(`^/\\Q.*\\E$`)", V3, (hreq){.path = "/ab"}));
  /* UTF-8: '.' is one code point; invalid bytes do not break matching */
  assert_true(match_http("PathRegexp(`^/.$`)", V3, (hreq){.path = "/\xc3\xa9"}));
  assert_true(match_http("PathRegexp(`^/é$`)", V3, (hreq){.path = "/\xc3\xa9"}));
  assert_true(match_http("PathRegexp(`^/a`)", V3, (hreq){.path = "/a\xff"}));
  assert_false(match_http("PathRegexp(`b`)", V3, (hreq){.path = "/a\xff"}));
  /* \d and \w are ASCII, as in Go */
  assert_false(match_http("PathRegexp(`^/\\d$`)", V3, (hreq){.path = "/\xd9\xa3"}));
  assert_true(match_http("PathRegexp(`^/\\pN$`)", V3, (hreq){.path = "/\xd9\xa3"}));
}

static void test_backtracking_bounded(void **state) {
  (void)state;
  /* Exponential for a backtracking engine; limits make it fail closed instead of hanging. */
  char path[64];
  path[0] = '/';
  memset(path + 1, 'a', 40);
  strcpy(path + 41, "!");
  assert_false(match_http("PathRegexp(`^/(a+)+$`)", WH_RULE_V3, (hreq){.path = path}));
  assert_false(match_http("PathRegexp(`^/(a|aa)+$`)", WH_RULE_V3, (hreq){.path = path}));
  path[41] = '\0';
  assert_true(match_http("PathRegexp(`^/(a|aa)+$`)", WH_RULE_V3, (hreq){.path = path}));
}

typedef struct worker {
  const wh_rule *r;
  int ok;
} worker;

static void *work(void *arg) {
  worker *w = arg;
  char path[32];
  for (int i = 0; i < 2000; i++) {
    snprintf(path, sizeof path, "/item/%d", i);
    wh_http_req_view v = {.method = "GET", .host = "API.example.com", .path = path};
    bool want = i % 2 == 0;
    if (wh_rule_match_http(w->r, &v) == want)
      w->ok++;
  }
  return NULL;
}

static void test_concurrent_matching(void **state) {
  (void)state;
  wh_rule *r =
      wh_rule_parse("HostRegexp(`^[a-z]+\\.example\\.com$`) && PathRegexp(`^/item/[0-9]*[02468]$`)",
                    WH_RULE_HTTP, WH_RULE_V3, NULL);
  assert_non_null(r);
  pthread_t th[4];
  worker w[4];
  for (int i = 0; i < 4; i++) {
    w[i] = (worker){r, 0};
    assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(w[i].ok, 2000);
  }
  wh_rule_free(r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_accepted),
      cmocka_unit_test(test_refused),
      cmocka_unit_test(test_semantics),
      cmocka_unit_test(test_backtracking_bounded),
      cmocka_unit_test(test_concurrent_matching),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
