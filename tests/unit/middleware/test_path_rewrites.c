/* Runtimes of the path-rewriting middlewares: addPrefix, replacePath,
 * replacePathRegex and stripPrefixRegex, as Traefik's pkg/middlewares
 * behave (headers, Go replacement templates, ReplaceAll with empty
 * matches), and the re-check of every rewritten path: a result with "." or
 * ".." segments (also spelled %2e) never reaches the backend (HARDENING 15). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/addprefix.h"
#include "middleware/replacepath.h"
#include "middleware/replacepathregex.h"
#include "middleware/stripprefixregex.h"

/* ---- harness ---- */

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  int rc;
} tx;

/* An exchange whose next handler would see path (already canonical). */
static tx *tx_new(const char *path) {
  tx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->req.method = "GET";
  t->req.target = path;
  t->req.path = path;
  t->req.host = "example.com";
  t->req.body = "";
  t->req.http_minor = 1;
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.path = strdup(path);
  t->x.resp = &t->resp;
  t->x.mw_name = "rw@file";
  t->x.mw_provider = "file";
  t->x.level = 1;
  return t;
}

static void tx_free(tx *t) {
  wh_http_resp_free(&t->resp);
  wh_mw_exchange_free(&t->x);
  free(t);
}

static tx *run(const wh_mw_type *type, const void *cfg, const char *path) {
  tx *t = tx_new(path);
  t->rc = type->on_request(cfg, &t->x);
  if (t->rc == WH_MW_NEXT)
    assert_int_equal(t->resp.status, 0);
  else
    assert_int_equal(t->rc, WH_MW_DONE);
  return t;
}

/* Passed on with this path (and, when header is set, that request header). */
static void expect_path(tx *t, const char *path, const char *header, const char *value) {
  assert_int_equal(t->rc, WH_MW_NEXT);
  assert_string_equal(t->x.path, path);
  if (header) {
    const char *v = wh_mw_exchange_header(&t->x, header);
    assert_non_null(v);
    assert_string_equal(v, value);
  }
  tx_free(t);
}

/* Answered with status (and body when given); the path the next handler
 * would have seen is untouched. */
static void expect_status(tx *t, int status, const char *body, const char *orig_path) {
  assert_int_equal(t->rc, WH_MW_DONE);
  assert_int_equal(t->resp.status, status);
  if (body)
    assert_string_equal(wh_strbuf_cstr(&t->resp.body), body);
  assert_string_equal(t->x.path, orig_path);
  tx_free(t);
}

static void expect_unchanged(tx *t, const char *path) {
  assert_int_equal(t->rc, WH_MW_NEXT);
  assert_string_equal(t->x.path, path);
  assert_int_equal(t->x.set_headers.n, 0);
  tx_free(t);
}

static wh_mw_stripprefixregex_conf spr(char **v, size_t n) {
  return (wh_mw_stripprefixregex_conf){.regex = {v, n}};
}

/* ---- addPrefix ---- */

static void test_addprefix_prepends(void **state) {
  (void)state;
  wh_mw_addprefix_conf c = {.prefix = "/api"};
  tx *t = run(&wh_mw_addprefix, &c, "/users/1");
  assert_int_equal(t->x.set_headers.n, 0);
  expect_path(t, "/api/users/1", NULL, NULL);
  expect_path(run(&wh_mw_addprefix, &c, "/"), "/api/", NULL, NULL);
  /* a prefix without its '/' gets one (ensureLeadingSlash) */
  wh_mw_addprefix_conf bare = {.prefix = "v2"};
  expect_path(run(&wh_mw_addprefix, &bare, "/x"), "/v2/x", NULL, NULL);
  /* Traefik does not clean the joint: "/api/" + "/x" stays "/api//x" */
  wh_mw_addprefix_conf slash = {.prefix = "/api/"};
  expect_path(run(&wh_mw_addprefix, &slash, "/x"), "/api//x", NULL, NULL);
  /* escapes in the prefix are canonicalised like any path */
  wh_mw_addprefix_conf esc = {.prefix = "/caf%C3%A9%2F"};
  expect_path(run(&wh_mw_addprefix, &esc, "/x"), "/caf\xc3\xa9%2F/x", NULL, NULL);
}

/* HARDENING 15: a dot segment in the result is refused, however spelled. */
static void test_addprefix_dot_segments_are_refused(void **state) {
  (void)state;
  wh_mw_addprefix_conf c = {.prefix = "/pub"};
  /* an entry point with sanitizePath off can hand such a path on */
  expect_status(run(&wh_mw_addprefix, &c, "/../admin"), 400, "Bad Request\n", "/../admin");
  expect_status(run(&wh_mw_addprefix, &c, "/%2e%2E/admin"), 400, NULL, "/%2e%2E/admin");
  expect_status(run(&wh_mw_addprefix, &c, "/./x"), 400, NULL, "/./x");
  wh_mw_addprefix_conf dots = {.prefix = "/a/%2e%2e"};
  expect_status(run(&wh_mw_addprefix, &dots, "/x"), 400, NULL, "/x");
  /* "..x" and ".x" are names, not dot segments */
  expect_path(run(&wh_mw_addprefix, &c, "/..x/.y"), "/pub/..x/.y", NULL, NULL);
}

static void test_addprefix_bad_escape_in_prefix_is_500(void **state) {
  (void)state;
  wh_mw_addprefix_conf c = {.prefix = "/a%zz"};
  expect_status(run(&wh_mw_addprefix, &c, "/x"), 500, "invalid URL escape \"%zz\"\n", "/x");
}

/* ---- replacePath ---- */

static void test_replacepath_replaces_and_keeps_the_old_path(void **state) {
  (void)state;
  wh_mw_replacepath_conf c = {.path = "/new/place"};
  expect_path(run(&wh_mw_replacepath, &c, "/old/one"), "/new/place", "X-Replaced-Path", "/old/one");
  /* the old path is shown escaped, as Go's URL.EscapedPath() */
  expect_path(run(&wh_mw_replacepath, &c, "/a b/caf\xc3\xa9/%2F\"x\""), "/new/place",
              "X-Replaced-Path", "/a%20b/caf%C3%A9/%2F%22x%22");
}

static void test_replacepath_takes_an_escaped_path(void **state) {
  (void)state;
  wh_mw_replacepath_conf c = {.path = "/a%20b/%2F/%41"};
  expect_path(run(&wh_mw_replacepath, &c, "/x"), "/a b/%2F/A", NULL, NULL);
  /* Traefik accepts an empty path: the backend gets "/" */
  wh_mw_replacepath_conf empty = {.path = ""};
  expect_path(run(&wh_mw_replacepath, &empty, "/x"), "/", "X-Replaced-Path", "/x");
  wh_mw_replacepath_conf none = {.path = NULL};
  expect_path(run(&wh_mw_replacepath, &none, "/x"), "/", NULL, NULL);
}

/* The result comes from the configuration only: dot segments are resolved. */
static void test_replacepath_resolves_dot_segments(void **state) {
  (void)state;
  wh_mw_replacepath_conf c = {.path = "/svc/../admin/./x"};
  expect_path(run(&wh_mw_replacepath, &c, "/p"), "/admin/x", NULL, NULL);
  wh_mw_replacepath_conf enc = {.path = "/svc/%2e%2e/%2E%2e/%2e%2e"};
  expect_path(run(&wh_mw_replacepath, &enc, "/p"), "/", NULL, NULL);
}

static void test_replacepath_bad_escape_is_500(void **state) {
  (void)state;
  wh_mw_replacepath_conf c = {.path = "/a%2"};
  expect_status(run(&wh_mw_replacepath, &c, "/p"), 500, "invalid URL escape \"%2\"\n", "/p");
  wh_mw_replacepath_conf c2 = {.path = "/a%g1/b"};
  expect_status(run(&wh_mw_replacepath, &c2, "/p"), 500, "invalid URL escape \"%g1\"\n", "/p");
}

/* ---- replacePathRegex ---- */

static void test_replacepathregex_rewrites_with_groups(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "^/foo/(.*)", .replacement = "/bar/$1"};
  expect_path(run(&wh_mw_replacepathregex, &c, "/foo/baz/1"), "/bar/baz/1", "X-Replaced-Path",
              "/foo/baz/1");
  wh_mw_replacepathregex_conf braces = {.regex = "^/(\\w+)/(\\d+)$", .replacement = "/${2}x/$1"};
  expect_path(run(&wh_mw_replacepathregex, &braces, "/item/42"), "/42x/item", NULL, NULL);
  /* Traefik trims both options */
  wh_mw_replacepathregex_conf blanks = {.regex = "  ^/foo/(.*) ", .replacement = " /bar/$1\t"};
  expect_path(run(&wh_mw_replacepathregex, &blanks, "/foo/a"), "/bar/a", NULL, NULL);
}

static void test_replacepathregex_no_match_passes_untouched(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "^/foo/(.*)", .replacement = "/bar/$1"};
  expect_unchanged(run(&wh_mw_replacepathregex, &c, "/other/foo/x"), "/other/foo/x");
}

/* Go's template expansion: "$1x" names group "1x" (none: empty), "$$" is
 * '$', a lone '$' stays, named groups by name, leading zeros are names. */
static void test_replacepathregex_go_template_rules(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "^/(?P<id>[a-z]+)$",
                                   .replacement = "/$1x-${1}x-$$1-${id}-$id-$-${-$01-$9"};
  expect_path(run(&wh_mw_replacepathregex, &c, "/ab"), "/-abx-$1-ab-ab-$-${--", NULL, NULL);
}

/* ReplaceAll: every match, empty ones included the way Go counts them. */
static void test_replacepathregex_replaces_every_match(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "o", .replacement = "0"};
  expect_path(run(&wh_mw_replacepathregex, &c, "/foo/boo"), "/f00/b00", NULL, NULL);
  /* Go: regexp.MustCompile("x*").ReplaceAllString("/ab", "-") == "-/-a-b-" */
  wh_mw_replacepathregex_conf empty = {.regex = "x*", .replacement = "-"};
  expect_path(run(&wh_mw_replacepathregex, &empty, "/ab"), "/-/-a-b-", NULL, NULL);
  /* Go: regexp.MustCompile("a*").ReplaceAllString("/baaac", "-") == "-/-b-c-" */
  wh_mw_replacepathregex_conf star = {.regex = "a*", .replacement = "-"};
  expect_path(run(&wh_mw_replacepathregex, &star, "/baaac"), "/-/-b-c-", NULL, NULL);
}

/* The regex sees the escaped path (URL.EscapedPath), the result is unescaped. */
static void test_replacepathregex_matches_the_escaped_path(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "^/a%20b/(.*)$", .replacement = "/c%20d/$1"};
  expect_path(run(&wh_mw_replacepathregex, &c, "/a b/x"), "/c d/x", "X-Replaced-Path", "/a%20b/x");
  wh_mw_replacepathregex_conf raw = {.regex = "^/a b/", .replacement = "/"};
  expect_unchanged(run(&wh_mw_replacepathregex, &raw, "/a b/x"), "/a b/x");
}

/* HARDENING 15: "..", "%2e%2e", "." and "//" in the result answer 400, as
 * Traefik's cleaned-path check does. */
static void test_replacepathregex_unclean_result_is_400(void **state) {
  (void)state;
  const char *repl[] = {"/pub/../$1", "/pub/%2e%2e/$1", "/pub/%2E%2e/$1",
                        "/pub/./$1",  "/pub//$1",       "/$1/.."};
  for (size_t i = 0; i < sizeof repl / sizeof repl[0]; i++) {
    wh_mw_replacepathregex_conf c = {.regex = "^/pub/(.*)", .replacement = (char *)repl[i]};
    expect_status(run(&wh_mw_replacepathregex, &c, "/pub/admin"), 400, "Bad Request\n",
                  "/pub/admin");
  }
  /* a capture that brings the dots in */
  wh_mw_replacepathregex_conf cap = {.regex = "^/pub/([^/]*)-(.*)", .replacement = "/srv/$1/$2"};
  expect_status(run(&wh_mw_replacepathregex, &cap, "/pub/..-admin"), 400, NULL, "/pub/..-admin");
  expect_path(run(&wh_mw_replacepathregex, &cap, "/pub/v1-admin"), "/srv/v1/admin", NULL, NULL);
}

static void test_replacepathregex_bad_escape_in_result_is_500(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "^/(.*)", .replacement = "/%zz/$1"};
  expect_status(run(&wh_mw_replacepathregex, &c, "/x"), 500, "invalid URL escape \"%zz\"\n", "/x");
}

/* PCRE2 backtracks where Go's engine would not: past the match limit the
 * request fails closed instead of spinning or passing unrewritten. */
static void test_regex_past_the_backtracking_limit_fails_closed(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "^/(a+)+$", .replacement = "/x"};
  char path[64] = "/";
  memset(path + 1, 'a', 40);
  strcpy(path + 41, "b");
  expect_status(run(&wh_mw_replacepathregex, &c, path), 500, NULL, path);
  /* the same pattern on a short subject works */
  expect_path(run(&wh_mw_replacepathregex, &c, "/aaa"), "/x", NULL, NULL);
}

/* A pattern that does not compile (only a hand-built configuration can
 * hold one: the validator refuses it) fails closed. */
static void test_regex_that_does_not_compile_fails_closed(void **state) {
  (void)state;
  wh_mw_replacepathregex_conf c = {.regex = "^/(a", .replacement = "/x"};
  expect_status(run(&wh_mw_replacepathregex, &c, "/a"), 500, NULL, "/a");
  char *bad[] = {"/a["};
  wh_mw_stripprefixregex_conf s = spr(bad, 1);
  expect_status(run(&wh_mw_stripprefixregex, &s, "/a"), 500, NULL, "/a");
}

/* ---- stripPrefixRegex ---- */

static void test_stripprefixregex_strips_the_matched_prefix(void **state) {
  (void)state;
  char *re[] = {"/api/v[0-9]+"};
  wh_mw_stripprefixregex_conf c = spr(re, 1);
  expect_path(run(&wh_mw_stripprefixregex, &c, "/api/v2/users"), "/users", "X-Forwarded-Prefix",
              "/api/v2");
  /* the whole path: "/" remains */
  expect_path(run(&wh_mw_stripprefixregex, &c, "/api/v10"), "/", "X-Forwarded-Prefix", "/api/v10");
  /* mid-segment: the leading '/' is put back */
  expect_path(run(&wh_mw_stripprefixregex, &c, "/api/v3beta/x"), "/beta/x", "X-Forwarded-Prefix",
              "/api/v3");
}

static void test_stripprefixregex_first_matching_regex_wins(void **state) {
  (void)state;
  char *re[] = {"^/none", "/b[a-z]+", "/bar"};
  wh_mw_stripprefixregex_conf c = spr(re, 3);
  expect_path(run(&wh_mw_stripprefixregex, &c, "/barn/x"), "/x", "X-Forwarded-Prefix", "/barn");
  expect_unchanged(run(&wh_mw_stripprefixregex, &c, "/zzz"), "/zzz");
}

/* Traefik takes the leftmost match and needs its text to be a prefix of
 * the path; a match elsewhere with other text is skipped, an empty match
 * is ignored, and a match elsewhere that equals the path's start strips
 * the start (strings.Replace of the first occurrence). */
static void test_stripprefixregex_match_must_be_a_prefix(void **state) {
  (void)state;
  char *mid[] = {"/b"};
  wh_mw_stripprefixregex_conf c = spr(mid, 1);
  expect_unchanged(run(&wh_mw_stripprefixregex, &c, "/a/b"), "/a/b");
  char *empty[] = {"^", "x*"};
  wh_mw_stripprefixregex_conf e = spr(empty, 2);
  expect_unchanged(run(&wh_mw_stripprefixregex, &e, "/a"), "/a");
  char *tail[] = {"/x$"};
  wh_mw_stripprefixregex_conf t = spr(tail, 1);
  expect_path(run(&wh_mw_stripprefixregex, &t, "/x/y/x"), "/y/x", "X-Forwarded-Prefix", "/x");
}

/* HARDENING 15: stripping that leaves a dot segment answers 400. */
static void test_stripprefixregex_dot_result_is_400(void **state) {
  (void)state;
  char *re[] = {"/pub"};
  wh_mw_stripprefixregex_conf c = spr(re, 1);
  expect_status(run(&wh_mw_stripprefixregex, &c, "/pub../admin"), 400, "Bad Request\n",
                "/pub../admin");
  expect_status(run(&wh_mw_stripprefixregex, &c, "/pub."), 400, NULL, "/pub.");
  expect_status(run(&wh_mw_stripprefixregex, &c, "/pub%2e%2e/admin"), 400, NULL,
                "/pub%2e%2e/admin");
  expect_status(run(&wh_mw_stripprefixregex, &c, "/pub//admin"), 400, NULL, "/pub//admin");
  expect_path(run(&wh_mw_stripprefixregex, &c, "/pub..x/admin"), "/..x/admin", NULL, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_addprefix_prepends),
      cmocka_unit_test(test_addprefix_dot_segments_are_refused),
      cmocka_unit_test(test_addprefix_bad_escape_in_prefix_is_500),
      cmocka_unit_test(test_replacepath_replaces_and_keeps_the_old_path),
      cmocka_unit_test(test_replacepath_takes_an_escaped_path),
      cmocka_unit_test(test_replacepath_resolves_dot_segments),
      cmocka_unit_test(test_replacepath_bad_escape_is_500),
      cmocka_unit_test(test_replacepathregex_rewrites_with_groups),
      cmocka_unit_test(test_replacepathregex_no_match_passes_untouched),
      cmocka_unit_test(test_replacepathregex_go_template_rules),
      cmocka_unit_test(test_replacepathregex_replaces_every_match),
      cmocka_unit_test(test_replacepathregex_matches_the_escaped_path),
      cmocka_unit_test(test_replacepathregex_unclean_result_is_400),
      cmocka_unit_test(test_replacepathregex_bad_escape_in_result_is_500),
      cmocka_unit_test(test_regex_past_the_backtracking_limit_fails_closed),
      cmocka_unit_test(test_regex_that_does_not_compile_fails_closed),
      cmocka_unit_test(test_stripprefixregex_strips_the_matched_prefix),
      cmocka_unit_test(test_stripprefixregex_first_matching_regex_wins),
      cmocka_unit_test(test_stripprefixregex_match_must_be_a_prefix),
      cmocka_unit_test(test_stripprefixregex_dot_result_is_400),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
