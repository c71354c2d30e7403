/* Runtimes of redirectScheme, redirectRegex and stripPrefix, as Traefik's
 * pkg/middlewares/redirect and stripprefix behave (TRAEFIK-COMPAT §4): the
 * URL each redirect sees, the status by method and permanence, the
 * pass-through when the target is the current URL, X-Forwarded-Proto only
 * from a trusted peer (HARDENING 16), and a stripped path that never
 * reaches the backend with a dot segment (HARDENING 15). */
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
#include "middleware/redirectregex.h"
#include "middleware/redirectscheme.h"
#include "middleware/stripprefix.h"

/* ---- harness ---- */

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *names[4], *values[4];
  int rc;
} tx;

/* A request as the data plane hands it to the chain: origin-form target
 * (path and query split from it), Host as received. */
static tx *tx_new(const char *method, const char *host, const char *target, bool tls) {
  tx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->req.method = method;
  t->req.target = target;
  const char *q = strchr(target, '?');
  t->req.path = q ? strndup(target, (size_t)(q - target)) : strdup(target);
  assert_non_null(t->req.path);
  t->req.query = q ? q + 1 : NULL;
  t->req.host = host;
  t->req.body = "";
  t->req.http_minor = 1;
  t->req.hdr_names = t->names;
  t->req.hdr_values = t->values;
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.is_tls = tls;
  t->x.path = strdup(t->req.path);
  assert_non_null(t->x.path);
  t->x.resp = &t->resp;
  t->x.mw_name = "mw@file";
  t->x.mw_provider = "file";
  t->x.level = 1;
  return t;
}

/* A request header as the client sent it. */
static void tx_header(tx *t, const char *name, const char *value) {
  assert_true(t->req.nheaders < 4);
  t->names[t->req.nheaders] = (char *)name;
  t->values[t->req.nheaders] = (char *)value;
  t->req.nheaders++;
}

static void tx_free(tx *t) {
  wh_http_resp_free(&t->resp);
  free((char *)t->req.path);
  wh_mw_exchange_free(&t->x);
  free(t);
}

static void tx_run(tx *t, const wh_mw_type *type, const void *cfg) {
  t->rc = type->on_request(cfg, &t->x);
  if (t->rc == WH_MW_NEXT)
    assert_int_equal(t->resp.status, 0);
  else
    assert_int_equal(t->rc, WH_MW_DONE);
}

/* Answered with a redirect: status, Location and the status text as body. */
static void expect_redirect(tx *t, int status, const char *location) {
  assert_int_equal(t->rc, WH_MW_DONE);
  assert_int_equal(t->resp.status, status);
  const char *loc = wh_http_resp_get_header(&t->resp, "Location");
  assert_non_null(loc);
  assert_string_equal(loc, location);
  assert_string_equal(wh_strbuf_cstr(&t->resp.body), wh_http_status_reason(status));
  tx_free(t);
}

/* Passed on untouched: no answer, same path, no request header set. */
static void expect_pass(tx *t) {
  assert_int_equal(t->rc, WH_MW_NEXT);
  assert_int_equal(t->resp.status, 0);
  assert_null(wh_http_resp_get_header(&t->resp, "Location"));
  assert_string_equal(t->x.path, t->req.path);
  assert_int_equal(t->x.set_headers.n, 0);
  tx_free(t);
}

/* One request through redirectScheme / redirectRegex. */
static tx *scheme_run(const wh_mw_redirectscheme_conf *c, const char *method, const char *host,
                      const char *target, bool tls) {
  tx *t = tx_new(method, host, target, tls);
  tx_run(t, &wh_mw_redirectscheme, c);
  return t;
}

static tx *regex_run(const wh_mw_redirectregex_conf *c, const char *method, const char *host,
                     const char *target, bool tls) {
  tx *t = tx_new(method, host, target, tls);
  tx_run(t, &wh_mw_redirectregex, c);
  return t;
}

/* A request carrying X-Forwarded-Proto, from a trusted peer or not. */
static tx *scheme_xfp(const wh_mw_redirectscheme_conf *c, const char *xfp, bool trusted, bool tls) {
  tx *t = tx_new("GET", "foo", "/p", tls);
  tx_header(t, "X-Forwarded-Proto", xfp);
  t->x.fwd_trusted = trusted;
  tx_run(t, &wh_mw_redirectscheme, c);
  return t;
}

/* ---- redirectScheme ---- */

static void test_scheme_http_to_https(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf c = {.scheme = "https"};
  expect_redirect(scheme_run(&c, "GET", "foo", "/", false), 302, "https://foo/");
  /* the RequestURI is kept as received, query included */
  expect_redirect(scheme_run(&c, "GET", "foo", "/a/b%2Fc?x=1&y", false), 302,
                  "https://foo/a/b%2Fc?x=1&y");
}

static void test_scheme_port_is_added(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf c = {.scheme = "https", .port = "8443"};
  expect_redirect(scheme_run(&c, "GET", "foo", "/x", false), 302, "https://foo:8443/x");
  /* http to another http port */
  wh_mw_redirectscheme_conf h = {.scheme = "http", .port = "8181"};
  expect_redirect(scheme_run(&h, "GET", "foo:8080", "/", false), 302, "http://foo:8181/");
  /* IPv6 literals keep their brackets, lose their port */
  expect_redirect(scheme_run(&c, "GET", "[::1]:80", "/", false), 302, "https://[::1]:8443/");
  wh_mw_redirectscheme_conf np = {.scheme = "https"};
  expect_redirect(scheme_run(&np, "GET", "[::1]", "/", false), 302, "https://[::1]/");
}

static void test_scheme_default_port_is_omitted(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf s = {.scheme = "https", .port = "443"};
  expect_redirect(scheme_run(&s, "GET", "foo", "/x", false), 302, "https://foo/x");
  wh_mw_redirectscheme_conf h = {.scheme = "http", .port = "80"};
  expect_redirect(scheme_run(&h, "GET", "foo", "/x", true), 302, "http://foo/x");
  /* only the scheme's own default port goes: https on 80 keeps it */
  wh_mw_redirectscheme_conf cross = {.scheme = "https", .port = "80"};
  expect_redirect(scheme_run(&cross, "GET", "foo", "/", false), 302, "https://foo:80/");
}

static void test_scheme_original_port_is_dropped(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf c = {.scheme = "https"};
  expect_redirect(scheme_run(&c, "GET", "foo:8080", "/x", false), 302, "https://foo/x");
  expect_redirect(scheme_run(&c, "GET", "foo:443", "/", false), 302, "https://foo/");
  /* already https, but on another port: sent to the default one */
  expect_redirect(scheme_run(&c, "GET", "foo:8000", "/theother", true), 302,
                  "https://foo/theother");
  wh_mw_redirectscheme_conf p = {.scheme = "https", .port = "8443"};
  expect_redirect(scheme_run(&p, "GET", "foo:8000", "/", true), 302, "https://foo:8443/");
  /* a scheme that is neither http nor https */
  wh_mw_redirectscheme_conf wss = {.scheme = "wss"};
  expect_redirect(scheme_run(&wss, "GET", "foo:5678", "/", false), 302, "wss://foo/");
}

static void test_scheme_status_by_method_and_permanence(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf tmp = {.scheme = "https"};
  wh_mw_redirectscheme_conf perm = {.scheme = "https", .permanent = true};
  expect_redirect(scheme_run(&tmp, "GET", "foo", "/", false), 302, "https://foo/");
  expect_redirect(scheme_run(&tmp, "POST", "foo", "/", false), 307, "https://foo/");
  expect_redirect(scheme_run(&tmp, "HEAD", "foo", "/", false), 307, "https://foo/");
  expect_redirect(scheme_run(&perm, "GET", "foo", "/", false), 301, "https://foo/");
  expect_redirect(scheme_run(&perm, "POST", "foo", "/", false), 308, "https://foo/");
  expect_redirect(scheme_run(&perm, "DELETE", "foo", "/", false), 308, "https://foo/");
}

/* The target equal to the current URL passes: what keeps a redirectScheme
 * on an HTTPS entry point from looping. */
static void test_scheme_target_equal_to_current_passes(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf s = {.scheme = "https"};
  expect_pass(scheme_run(&s, "GET", "foo", "/x?y", true));
  expect_pass(scheme_run(&s, "POST", "foo", "/", true));
  wh_mw_redirectscheme_conf p = {.scheme = "https", .port = "8443"};
  expect_pass(scheme_run(&p, "GET", "foo:8443", "/x", true));
  expect_pass(scheme_run(&p, "GET", "[::1]:8443", "/x", true));
  /* an explicit default port is the same URL (Traefik drops it from both) */
  expect_pass(scheme_run(&s, "GET", "foo:443", "/x", true));
  wh_mw_redirectscheme_conf h = {.scheme = "http", .port = "80"};
  expect_pass(scheme_run(&h, "GET", "foo:80", "/", false));
  expect_pass(scheme_run(&h, "GET", "foo", "/", false));
  wh_mw_redirectscheme_conf h8 = {.scheme = "http", .port = "8080"};
  expect_pass(scheme_run(&h8, "GET", "foo:8080", "/", false));
}

static void test_scheme_trusted_forwarded_proto_overrides(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf c = {.scheme = "https"};
  /* a TLS-terminating proxy in front says the client used https */
  expect_pass(scheme_xfp(&c, "https", true, false));
  expect_pass(scheme_xfp(&c, "HTTPS", true, false));
  /* wss is an upgrade over https: no loop for WebSockets behind a proxy */
  expect_pass(scheme_xfp(&c, "wss", true, false));
  expect_redirect(scheme_xfp(&c, "http", true, false), 302, "https://foo/p");
  expect_redirect(scheme_xfp(&c, "ws", true, false), 302, "https://foo/p");
  /* and the other way round: plain http at the proxy, TLS to wharf */
  expect_redirect(scheme_xfp(&c, "http", true, true), 302, "https://foo/p");
  /* a value outside http|https|ws|wss is ignored */
  expect_redirect(scheme_xfp(&c, "bar", true, false), 302, "https://foo/p");
  expect_pass(scheme_xfp(&c, "bar", true, true));
  wh_mw_redirectscheme_conf h = {.scheme = "http"};
  expect_pass(scheme_xfp(&h, "ws", true, true));
  expect_redirect(scheme_xfp(&h, "wss", true, false), 302, "http://foo/p");
}

/* HARDENING 16: Traefik's entry point rebuilds X-Forwarded-Proto from the
 * connection for an untrusted peer before any middleware runs, so the
 * client's own value changes nothing. */
static void test_scheme_untrusted_forwarded_proto_is_ignored(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf c = {.scheme = "https"};
  expect_redirect(scheme_xfp(&c, "https", false, false), 302, "https://foo/p");
  expect_redirect(scheme_xfp(&c, "wss", false, false), 302, "https://foo/p");
  expect_pass(scheme_xfp(&c, "http", false, true));
  wh_mw_redirectscheme_conf h = {.scheme = "http"};
  expect_pass(scheme_xfp(&h, "https", false, false));
}

/* What an earlier middleware (headers.customRequestHeaders) set is what
 * this one sees, trusted peer or not; a removed header counts as absent. */
static void test_scheme_forwarded_proto_set_by_a_middleware(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf c = {.scheme = "https"};
  tx *t = tx_new("GET", "foo", "/p", false);
  assert_int_equal(wh_mw_exchange_set_header(&t->x, "X-Forwarded-Proto", "https"), 0);
  tx_run(t, &wh_mw_redirectscheme, &c);
  assert_int_equal(t->rc, WH_MW_NEXT);
  assert_int_equal(t->resp.status, 0);
  tx_free(t);

  t = tx_new("GET", "foo", "/p", false);
  tx_header(t, "X-Forwarded-Proto", "https");
  t->x.fwd_trusted = true;
  assert_int_equal(wh_mw_exchange_set_header(&t->x, "X-Forwarded-Proto", NULL), 0);
  tx_run(t, &wh_mw_redirectscheme, &c);
  assert_int_equal(t->rc, WH_MW_DONE);
  assert_int_equal(t->resp.status, 302);
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Location"), "https://foo/p");
  tx_free(t);
}

/* An absolute-form target is routed by its authority (the data plane puts
 * it in req->host); the RequestURI is its path and query. */
static void test_scheme_absolute_form_target(void **state) {
  (void)state;
  wh_mw_redirectscheme_conf c = {.scheme = "https"};
  tx *t = tx_new("GET", "foo:8080", "http://foo:8080/a?b=1", false);
  free((char *)t->req.path);
  t->req.path = strdup("/a");
  t->req.query = "b=1";
  tx_run(t, &wh_mw_redirectscheme, &c);
  expect_redirect(t, 302, "https://foo/a?b=1");
}

/* ---- redirectRegex ---- */

static void test_regex_replacement_expands_groups(void **state) {
  (void)state;
  wh_mw_redirectregex_conf c = {.regex = "^http://localhost/(.*)",
                                .replacement = "http://mydomain/${1}"};
  expect_redirect(regex_run(&c, "GET", "localhost", "/foo?bar=1", false), 302,
                  "http://mydomain/foo?bar=1");
  /* $1 works like ${1}; $$ is a literal '$'; named groups too */
  wh_mw_redirectregex_conf d = {.regex = "^http://(?P<h>[^/:]+)(?::\\d+)?/(\\w+)",
                                .replacement = "https://${h}/$2/$$"};
  expect_redirect(regex_run(&d, "GET", "foo:8080", "/abc/rest", false), 302,
                  "https://foo/abc/$/rest");
  /* Go's "$2x" names group "2x", which does not exist: nothing */
  wh_mw_redirectregex_conf e = {.regex = "^http://foo/(a)(b)", .replacement = "http://bar/$2x"};
  expect_redirect(regex_run(&e, "GET", "foo", "/ab", false), 302, "http://bar/");
}

/* Go expands a group that did not take part to nothing; PCRE2's own
 * substitution would fail instead (and the redirect be skipped). */
static void test_regex_unset_group_expands_to_nothing(void **state) {
  (void)state;
  wh_mw_redirectregex_conf c = {.regex = "^http://(www\\.)?example\\.com/(.*)",
                                .replacement = "https://${1}example.org/${2}"};
  expect_redirect(regex_run(&c, "GET", "example.com", "/x", false), 302, "https://example.org/x");
  expect_redirect(regex_run(&c, "GET", "www.example.com", "/x", false), 302,
                  "https://www.example.org/x");
}

static void test_regex_status_by_method_and_permanence(void **state) {
  (void)state;
  wh_mw_redirectregex_conf tmp = {.regex = "^http://a/(.*)", .replacement = "http://b/$1"};
  wh_mw_redirectregex_conf perm = {
      .regex = "^http://a/(.*)", .replacement = "http://b/$1", .permanent = true};
  expect_redirect(regex_run(&tmp, "GET", "a", "/x", false), 302, "http://b/x");
  expect_redirect(regex_run(&tmp, "PUT", "a", "/x", false), 307, "http://b/x");
  expect_redirect(regex_run(&perm, "GET", "a", "/x", false), 301, "http://b/x");
  expect_redirect(regex_run(&perm, "POST", "a", "/x", false), 308, "http://b/x");
}

static void test_regex_no_match_passes(void **state) {
  (void)state;
  wh_mw_redirectregex_conf c = {.regex = "^http://localhost/(.*)",
                                .replacement = "http://mydomain/${1}"};
  expect_pass(regex_run(&c, "GET", "example.com", "/foo", false));
  /* over TLS the URL starts with https:// */
  expect_pass(regex_run(&c, "GET", "localhost", "/foo", true));
  /* the Host port is part of the URL matched */
  expect_pass(regex_run(&c, "GET", "localhost:8080", "/foo", false));
}

/* A rule mapping a URL onto itself passes through (Traefik compares the
 * result with the URL) instead of redirecting the client to where it is. */
static void test_regex_result_equal_to_url_passes(void **state) {
  (void)state;
  wh_mw_redirectregex_conf c = {.regex = "^https?://(?:www\\.)?example\\.com/(.*)",
                                .replacement = "https://example.com/${1}"};
  expect_pass(regex_run(&c, "GET", "example.com", "/x?y=1", true));
  expect_redirect(regex_run(&c, "GET", "www.example.com", "/x?y=1", true), 302,
                  "https://example.com/x?y=1");
  expect_redirect(regex_run(&c, "GET", "example.com", "/x?y=1", false), 302,
                  "https://example.com/x?y=1");
}

/* Traefik's redirectRegex matches scheme://Host<RequestURI> with the
 * scheme from the connection alone: X-Forwarded-Proto plays no part, from
 * a trusted peer or not. */
static void test_regex_ignores_forwarded_proto(void **state) {
  (void)state;
  wh_mw_redirectregex_conf c = {.regex = "^http://(.*)", .replacement = "https://$1"};
  for (int trusted = 0; trusted < 2; trusted++) {
    tx *t = tx_new("GET", "foo", "/p", false);
    tx_header(t, "X-Forwarded-Proto", "https");
    t->x.fwd_trusted = trusted;
    tx_run(t, &wh_mw_redirectregex, &c);
    expect_redirect(t, 302, "https://foo/p");
  }
}

/* ReplaceAllString: every match is replaced; a result longer than any
 * fixed buffer still redirects. */
static void test_regex_replaces_every_match_and_long_urls(void **state) {
  (void)state;
  wh_mw_redirectregex_conf c = {.regex = "/old", .replacement = "/new"};
  expect_redirect(regex_run(&c, "GET", "h", "/old/old/x", false), 302, "http://h/new/new/x");
  size_t n = 20000;
  char *target = malloc(n + 2);
  assert_non_null(target);
  target[0] = '/';
  memset(target + 1, 'a', n);
  target[n + 1] = '\0';
  wh_mw_redirectregex_conf g = {.regex = "^http://h/(.*)", .replacement = "https://g/$1"};
  tx *t = regex_run(&g, "GET", "h", target, false);
  assert_int_equal(t->rc, WH_MW_DONE);
  assert_int_equal(t->resp.status, 302);
  const char *loc = wh_http_resp_get_header(&t->resp, "Location");
  assert_non_null(loc);
  assert_int_equal(strlen(loc), strlen("https://g/") + n);
  assert_memory_equal(loc, "https://g/aaa", 13);
  tx_free(t);
  free(target);
}

/* A pattern that cannot run never lets the request through unchecked. */
static void test_regex_bad_pattern_fails_closed(void **state) {
  (void)state;
  wh_mw_redirectregex_conf c = {.regex = "^http://(unclosed", .replacement = "https://x/"};
  tx *t = regex_run(&c, "GET", "h", "/", false);
  assert_int_equal(t->rc, WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  assert_null(wh_http_resp_get_header(&t->resp, "Location"));
  tx_free(t);
}

/* ---- stripPrefix ---- */

/* A stripPrefix run on a canonical path. */
static tx *strip_run(char **prefixes, size_t n, const char *path) {
  wh_mw_stripprefix_conf c = {.prefixes = {prefixes, n}};
  tx *t = tx_new("GET", "foo", path, false);
  tx_run(t, &wh_mw_stripprefix, &c);
  return t;
}

static void expect_stripped(tx *t, const char *path, const char *prefix) {
  assert_int_equal(t->rc, WH_MW_NEXT);
  assert_string_equal(t->x.path, path);
  const char *v = wh_mw_exchange_header(&t->x, "X-Forwarded-Prefix");
  assert_non_null(v);
  assert_string_equal(v, prefix);
  tx_free(t);
}

static void test_strip_first_matching_prefix(void **state) {
  (void)state;
  char *p[] = {"/foo", "/foo/bar"};
  expect_stripped(strip_run(p, 2, "/foo/bar/x"), "/bar/x", "/foo");
  char *q[] = {"/nope", "/foo/bar", "/foo"};
  expect_stripped(strip_run(q, 3, "/foo/bar/x"), "/x", "/foo/bar");
  /* a plain string prefix, not a path segment */
  char *r[] = {"/api"};
  expect_stripped(strip_run(r, 1, "/apix/y"), "/x/y", "/api");
  /* escapes the canonical path keeps stay as they are */
  expect_stripped(strip_run(r, 1, "/api/a%2Fb"), "/a%2Fb", "/api");
}

static void test_strip_keeps_leading_slash(void **state) {
  (void)state;
  char *p[] = {"/api"};
  expect_stripped(strip_run(p, 1, "/api"), "/", "/api");
  expect_stripped(strip_run(p, 1, "/api/"), "/", "/api");
  expect_stripped(strip_run(p, 1, "/api/x/"), "/x/", "/api");
  char *s[] = {"/api/"};
  expect_stripped(strip_run(s, 1, "/api/x"), "/x", "/api/");
  expect_stripped(strip_run(s, 1, "/api/"), "/", "/api/");
}

/* The prefix replaces any X-Forwarded-Prefix the request carried. */
static void test_strip_sets_forwarded_prefix(void **state) {
  (void)state;
  char *p[] = {"/svc"};
  wh_mw_stripprefix_conf c = {.prefixes = {p, 1}};
  tx *t = tx_new("GET", "foo", "/svc/x", false);
  tx_header(t, "X-Forwarded-Prefix", "/spoofed");
  tx_run(t, &wh_mw_stripprefix, &c);
  assert_int_equal(t->x.set_headers.n, 1);
  expect_stripped(t, "/x", "/svc");
}

static void test_strip_no_match_unchanged(void **state) {
  (void)state;
  char *p[] = {"/api", "/v2"};
  expect_pass(strip_run(p, 2, "/other/api"));
  expect_pass(strip_run(p, 2, "/"));
  /* case matters */
  expect_pass(strip_run(p, 2, "/API/x"));
  /* a longer prefix than the path */
  char *l[] = {"/api/v1"};
  expect_pass(strip_run(l, 1, "/api"));
}

/* HARDENING 15: "/api.." stripped of "/api" would leave "/..": answered
 * 400 (Traefik's path-cleaning check), never handed to the backend. */
static void test_strip_dot_result_is_400(void **state) {
  (void)state;
  char *p[] = {"/api"};
  const char *paths[] = {"/api..", "/api../secret", "/api./x", "/api.", "/api//x"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    tx *t = strip_run(p, 1, paths[i]);
    assert_int_equal(t->rc, WH_MW_DONE);
    assert_int_equal(t->resp.status, 400);
    assert_string_equal(t->x.path, paths[i]);
    tx_free(t);
  }
  /* a dot that is part of a name is fine */
  expect_stripped(strip_run(p, 1, "/api.v2/x"), "/.v2/x", "/api");
  expect_stripped(strip_run(p, 1, "/api/.well"), "/.well", "/api");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_scheme_http_to_https),
      cmocka_unit_test(test_scheme_port_is_added),
      cmocka_unit_test(test_scheme_default_port_is_omitted),
      cmocka_unit_test(test_scheme_original_port_is_dropped),
      cmocka_unit_test(test_scheme_status_by_method_and_permanence),
      cmocka_unit_test(test_scheme_target_equal_to_current_passes),
      cmocka_unit_test(test_scheme_trusted_forwarded_proto_overrides),
      cmocka_unit_test(test_scheme_untrusted_forwarded_proto_is_ignored),
      cmocka_unit_test(test_scheme_forwarded_proto_set_by_a_middleware),
      cmocka_unit_test(test_scheme_absolute_form_target),
      cmocka_unit_test(test_regex_replacement_expands_groups),
      cmocka_unit_test(test_regex_unset_group_expands_to_nothing),
      cmocka_unit_test(test_regex_status_by_method_and_permanence),
      cmocka_unit_test(test_regex_no_match_passes),
      cmocka_unit_test(test_regex_result_equal_to_url_passes),
      cmocka_unit_test(test_regex_ignores_forwarded_proto),
      cmocka_unit_test(test_regex_replaces_every_match_and_long_urls),
      cmocka_unit_test(test_regex_bad_pattern_fails_closed),
      cmocka_unit_test(test_strip_first_matching_prefix),
      cmocka_unit_test(test_strip_keeps_leading_slash),
      cmocka_unit_test(test_strip_sets_forwarded_prefix),
      cmocka_unit_test(test_strip_no_match_unchanged),
      cmocka_unit_test(test_strip_dot_result_is_400),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
