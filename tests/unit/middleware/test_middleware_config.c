/* Configuration side of the middleware types: each type's schema table
 * decodes Traefik's option names with Traefik's defaults, and its validate
 * hook rejects bad values with an error naming the option path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "lib/config/dynamic.h"
#include "lib/config/schema.h"
#include "lib/config/tree.h"
#include "middleware/addprefix.h"
#include "middleware/basicauth.h"
#include "middleware/buffering.h"
#include "middleware/chain.h"
#include "middleware/circuitbreaker.h"
#include "middleware/compress.h"
#include "middleware/contenttype.h"
#include "middleware/digestauth.h"
#include "middleware/errors.h"
#include "middleware/forwardauth.h"
#include "middleware/grpcweb.h"
#include "middleware/headers.h"
#include "middleware/inflightreq.h"
#include "middleware/ipallowlist.h"
#include "middleware/option_check.h"
#include "middleware/passtlsclientcert.h"
#include "middleware/ratelimit.h"
#include "middleware/redirectregex.h"
#include "middleware/redirectscheme.h"
#include "middleware/registry.h"
#include "middleware/replacepath.h"
#include "middleware/replacepathregex.h"
#include "middleware/retry.h"
#include "middleware/stripprefix.h"
#include "middleware/stripprefixregex.h"
#include "middleware/tcp_inflightconn.h"
#include "middleware/tcp_ipallowlist.h"

/* ---- harness ---- */

typedef struct decoded {
  const wh_mw_type *type;
  void *obj;
  wh_errlist errs;
  int rc;
  char path[96];
} decoded;

/* Decodes "key", "value", ..., NULL (dotted keys, as labels give them) for
 * type t at "http.middlewares.m.<name>" (or tcp.). */
static decoded *decode_kv(const wh_mw_type *t, const char *const *kv) {
  decoded *d = calloc(1, sizeof *d);
  assert_non_null(d);
  d->type = t;
  wh_errlist_init(&d->errs);
  snprintf(d->path, sizeof d->path, "%s.middlewares.m.%s", t->proto == WH_MW_TCP ? "tcp" : "http",
           t->name);
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(root);
  for (size_t i = 0; kv[i]; i += 2)
    assert_int_equal(wh_node_set_dotted(root, kv[i], kv[i + 1], "test", 0), 0);
  d->obj = wh_schema_new(t->schema);
  assert_non_null(d->obj);
  d->rc = wh_schema_decode(t->schema, root, d->obj, d->path, &d->errs);
  wh_node_free(root);
  return d;
}

static void decoded_free(decoded *d) {
  wh_schema_destroy(d->type->schema, d->obj);
  wh_errlist_free(&d->errs);
  free(d);
}

static bool errs_contain(const wh_errlist *e, const char *needle) {
  for (size_t i = 0; i < e->n; i++)
    if (strstr(e->items[i], needle))
      return true;
  return false;
}

static void dump_errs(const decoded *d) {
  for (size_t i = 0; i < d->errs.n; i++)
    print_message("  error: %s\n", d->errs.items[i]);
}

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Decodes and asserts success; returns the decoded config for inspection. */
static decoded *ok_(const wh_mw_type *t, const char *const *kv) {
  decoded *d = decode_kv(t, kv);
  if (d->rc != 0 || d->errs.n != 0)
    dump_errs(d);
  assert_int_equal(d->rc, 0);
  assert_int_equal(d->errs.n, 0);
  return d;
}
#define OK(t, ...) ok_((t), KV(__VA_ARGS__))

/* Decodes and asserts failure with an error containing "<path>.<suffix>"
 * (or "<path><suffix>" when suffix starts with ':'). */
static void bad_(const wh_mw_type *t, const char *suffix, const char *const *kv) {
  decoded *d = decode_kv(t, kv);
  char want[256];
  /* a suffix starting with ':' is about the struct itself */
  snprintf(want, sizeof want, "%s%s%s", d->path, *suffix && *suffix != ':' ? "." : "", suffix);
  if (d->rc == 0 || !errs_contain(&d->errs, want)) {
    print_message("  wanted an error containing: %s\n", want);
    dump_errs(d);
  }
  assert_int_not_equal(d->rc, 0);
  assert_true(errs_contain(&d->errs, want));
  decoded_free(d);
}
#define BAD(t, suffix, ...) bad_((t), (suffix), KV(__VA_ARGS__))

static bool errs_contain_(const decoded *d, const char *needle) {
  return errs_contain(&d->errs, needle);
}

static char *encode(const decoded *d) {
  cJSON *j = wh_schema_encode(d->type->schema, d->obj);
  assert_non_null(j);
  char *s = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  assert_non_null(s);
  return s;
}

/* ---- registry ---- */

static void test_registry_lists_every_type(void **state) {
  (void)state;
  assert_int_equal(wh_mw_registry_len, 27);
  size_t nhttp = 0, ntcp = 0;
  for (size_t i = 0; i < wh_mw_registry_len; i++) {
    const wh_mw_type *t = wh_mw_registry[i];
    assert_non_null(t->name);
    assert_non_null(t->schema);
    assert_int_equal(t->schema->size > 0, 1);
    nhttp += t->proto == WH_MW_HTTP;
    ntcp += t->proto == WH_MW_TCP;
    for (size_t j = i + 1; j < wh_mw_registry_len; j++)
      if (wh_mw_registry[j]->proto == t->proto)
        assert_string_not_equal(wh_mw_registry[j]->name, t->name);
    if (t->alias_of) {
      /* an alias names a registered type of the same protocol with the same options */
      bool found = false;
      for (size_t j = 0; j < wh_mw_registry_len; j++)
        if (wh_mw_registry[j]->proto == t->proto && !strcmp(wh_mw_registry[j]->name, t->alias_of)) {
          found = true;
          assert_ptr_equal(wh_mw_registry[j]->schema, t->schema);
        }
      assert_true(found);
      assert_true(t->field_flags & WH_FF_DEPRECATED);
    }
  }
  assert_int_equal(nhttp, 24);
  assert_int_equal(ntcp, 3);
  assert_true(nhttp <= WH_MW_MAX_TYPES);
}

static void test_registry_field_flags(void **state) {
  (void)state;
  assert_true(wh_mw_compress.field_flags & WH_FF_ALLOW_EMPTY);
  assert_true(wh_mw_contenttype.field_flags & WH_FF_ALLOW_EMPTY);
  assert_false(wh_mw_headers.field_flags & WH_FF_ALLOW_EMPTY);
  assert_string_equal(wh_mw_ipwhitelist.alias_of, "ipAllowList");
  assert_string_equal(wh_mw_tcp_ipallowlist.name, "ipAllowList");
  assert_int_equal(wh_mw_tcp_ipallowlist.proto, WH_MW_TCP);
  assert_string_equal(wh_mw_tcp_ipwhitelist.alias_of, "ipAllowList");
}

/* ---- path rewriting ---- */

static void test_addprefix(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_addprefix, "PREFIX", "/api");
  assert_string_equal(((wh_mw_addprefix_conf *)d->obj)->prefix, "/api");
  decoded_free(d);
  BAD(&wh_mw_addprefix, "prefix: required", "prefix", "");
}

static void test_addprefix_unknown_key_suggests(void **state) {
  (void)state;
  BAD(&wh_mw_addprefix, "prefx: unknown key (did you mean \"prefix\"?)", "prefx", "/api");
}

static void test_stripprefix(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_stripprefix, "prefixes", "/a,/b");
  wh_mw_stripprefix_conf *c = d->obj;
  assert_int_equal(c->prefixes.n, 2);
  assert_string_equal(c->prefixes.v[1], "/b");
  assert_true(c->force_slash); /* v2 default */
  assert_false(c->force_slash_set);
  decoded_free(d);
  d = OK(&wh_mw_stripprefix, "prefixes[0]", "/x", "forceSlash", "false");
  c = d->obj;
  assert_false(c->force_slash);
  assert_true(c->force_slash_set);
  decoded_free(d);
  BAD(&wh_mw_stripprefix, "prefixes: must not be empty", "forceSlash", "true");
}

static void test_stripprefixregex(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_stripprefixregex, "regex[0]", "^/api/v[0-9]+", "regex[1]", "/foo");
  assert_int_equal(((wh_mw_stripprefixregex_conf *)d->obj)->regex.n, 2);
  decoded_free(d);
  BAD(&wh_mw_stripprefixregex, "regex[1]: invalid regular expression", "regex[0]", "^/ok",
      "regex[1]", "/a(b");
  BAD(&wh_mw_stripprefixregex, "regex: must not be empty", "regex", "");
}

static void test_regex_error_has_pcre_message_and_offset(void **state) {
  (void)state;
  decoded *d = decode_kv(&wh_mw_replacepathregex, KV("regex", "^/a[b", "replacement", "/x"));
  assert_int_not_equal(d->rc, 0);
  assert_int_equal(d->errs.n, 1);
  assert_non_null(strstr(d->errs.items[0], "replacePathRegex.regex: invalid regular expression: "));
  assert_non_null(strstr(d->errs.items[0], "missing terminating ]"));
  assert_non_null(strstr(d->errs.items[0], "at offset 5"));
  decoded_free(d);
}

static void test_replacepath(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_replacepath, "path", "/new");
  assert_string_equal(((wh_mw_replacepath_conf *)d->obj)->path, "/new");
  decoded_free(d);
  BAD(&wh_mw_replacepath, "paht: unknown key", "paht", "/new");
}

static void test_replacepathregex(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_replacepathregex, "regex", "^/foo/(.*)", "replacement", "/bar/$1");
  wh_mw_replacepathregex_conf *c = d->obj;
  assert_string_equal(c->regex, "^/foo/(.*)");
  assert_string_equal(c->replacement, "/bar/$1");
  decoded_free(d);
  BAD(&wh_mw_replacepathregex, "regex: invalid regular expression", "regex", "(?<", "replacement",
      "/");
}

static void test_chain(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_chain, "middlewares", "auth,strip@file");
  wh_mw_chain_conf *c = d->obj;
  assert_int_equal(c->middlewares.n, 2);
  assert_string_equal(c->middlewares.v[1], "strip@file");
  decoded_free(d);
  BAD(&wh_mw_chain, "middlewares: must not be empty", "middlewares", "");
}

/* ---- ipAllowList ---- */

static void test_ipallowlist(void **state) {
  (void)state;
  decoded *d =
      OK(&wh_mw_ipallowlist, "sourceRange", "127.0.0.1/32, 192.168.1.7, 2001:db8::/32, ::1",
         "ipStrategy.depth", "2", "rejectStatusCode", "404");
  wh_mw_ipallowlist_conf *c = d->obj;
  assert_int_equal(c->source_range.n, 4);
  assert_string_equal(c->source_range.v[2], "2001:db8::/32");
  assert_non_null(c->ip_strategy);
  assert_int_equal(c->ip_strategy->depth, 2);
  assert_false(c->ip_strategy->ipv6_subnet_set);
  assert_int_equal(c->reject_status_code, 404);
  decoded_free(d);
}

static void test_ipallowlist_bad_ranges(void **state) {
  (void)state;
  BAD(&wh_mw_ipallowlist, "sourceRange: must not be empty", "ipStrategy.depth", "1");
  BAD(&wh_mw_ipallowlist, "sourceRange[1]: invalid IP address or CIDR \"10.0.0.0/33\"",
      "sourceRange", "10.0.0.1,10.0.0.0/33");
  BAD(&wh_mw_ipallowlist, "sourceRange[0]: invalid IP address", "sourceRange", "example.com");
  BAD(&wh_mw_ipallowlist, "sourceRange[0]: invalid IP address", "sourceRange", "::1/129");
  BAD(&wh_mw_ipallowlist, "sourceRange[0]: invalid IP address", "sourceRange", "1.2.3.4/");
}

static void test_ipallowlist_reject_status(void **state) {
  (void)state;
  BAD(&wh_mw_ipallowlist, "rejectStatusCode: invalid HTTP status code 42", "sourceRange",
      "10.0.0.0/8", "rejectStatusCode", "42");
  BAD(&wh_mw_ipallowlist, "rejectStatusCode", "sourceRange", "10.0.0.0/8", "rejectStatusCode",
      "600");
  decoded *d = OK(&wh_mw_ipallowlist, "sourceRange", "10.0.0.0/8");
  assert_int_equal(((wh_mw_ipallowlist_conf *)d->obj)->reject_status_code, 0);
  assert_null(((wh_mw_ipallowlist_conf *)d->obj)->ip_strategy);
  decoded_free(d);
}

static void test_ipallowlist_ipstrategy_allow_empty(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_ipallowlist, "sourceRange", "10.0.0.0/8", "ipStrategy", "true");
  assert_non_null(((wh_mw_ipallowlist_conf *)d->obj)->ip_strategy);
  decoded_free(d);
  d = OK(&wh_mw_ipallowlist, "sourceRange", "10.0.0.0/8", "ipStrategy", "false");
  assert_null(((wh_mw_ipallowlist_conf *)d->obj)->ip_strategy);
  decoded_free(d);
}

static void test_ipstrategy_validation(void **state) {
  (void)state;
  BAD(&wh_mw_ipallowlist, "ipStrategy.depth: must be >= 0", "sourceRange", "10.0.0.0/8",
      "ipStrategy.depth", "-1");
  BAD(&wh_mw_ipallowlist, "ipStrategy.ipv6Subnet: must be in 1..128", "sourceRange", "10.0.0.0/8",
      "ipStrategy.ipv6Subnet", "129");
  BAD(&wh_mw_ipallowlist, "ipStrategy.excludedIPs[1]: invalid IP address", "sourceRange",
      "10.0.0.0/8", "ipStrategy.excludedIPs", "10.0.0.1,nope");
  decoded *d = OK(&wh_mw_ipallowlist, "sourceRange", "10.0.0.0/8", "ipStrategy.ipv6Subnet", "64",
                  "ipStrategy.excludedIPs", "10.0.0.1,fd00::/8");
  wh_mw_ip_strategy *s = ((wh_mw_ipallowlist_conf *)d->obj)->ip_strategy;
  assert_true(s->ipv6_subnet_set);
  assert_int_equal(s->ipv6_subnet, 64);
  assert_int_equal(s->excluded_ips.n, 2);
  decoded_free(d);
}

static void test_ipwhitelist_alias(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_ipwhitelist, "sourceRange", "192.168.0.0/16");
  assert_int_equal(((wh_mw_ipallowlist_conf *)d->obj)->source_range.n, 1);
  decoded_free(d);
  BAD(&wh_mw_ipwhitelist, "sourceRange[0]", "sourceRange", "192.168.0.0/16/1");
}

/* ---- headers ---- */

static void test_headers(void **state) {
  (void)state;
  decoded *d =
      OK(&wh_mw_headers, "customRequestHeaders.X-Script-Name", "test",
         "customResponseHeaders.X-Powered-By", "", "stsSeconds", "31536000", "stsIncludeSubdomains",
         "true", "frameDeny", "true", "accessControlAllowOriginListRegex",
         "^https://.*\\.example\\.com$", "sslProxyHeaders.X-Forwarded-Proto", "https",
         "browserXssFilter", "true", "contentSecurityPolicyReportOnly", "default-src 'self'");
  wh_mw_headers_conf *c = d->obj;
  assert_int_equal(c->custom_request_headers.n, 1);
  assert_string_equal(c->custom_request_headers.keys[0], "X-Script-Name");
  assert_string_equal(c->custom_response_headers.vals[0], "");
  assert_int_equal(c->sts_seconds, 31536000);
  assert_true(c->sts_include_subdomains && c->frame_deny && c->browser_xss_filter);
  assert_string_equal(wh_strmap_get(&c->ssl_proxy_headers, "x-forwarded-proto", true), "https");
  assert_string_equal(c->content_security_policy_report_only, "default-src 'self'");
  decoded_free(d);
}

static void test_headers_invalid(void **state) {
  (void)state;
  BAD(&wh_mw_headers, "stsSeconds: must be >= 0", "stsSeconds", "-1");
  BAD(&wh_mw_headers, "accessControlAllowOriginListRegex[0]: invalid regular expression",
      "accessControlAllowOriginListRegex", "(unclosed");
  BAD(&wh_mw_headers, "frameDenny: unknown key (did you mean \"frameDeny\"?)", "frameDenny",
      "true");
}

static void test_headers_v2_fields_deprecated(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_headers, "sslRedirect", "true", "sslHost", "example.com", "featurePolicy",
                  "camera 'none'");
  wh_mw_headers_conf *c = d->obj;
  assert_true(c->ssl_redirect);
  assert_string_equal(c->ssl_host, "example.com");
  decoded_free(d);
  const char *v2[] = {"sslRedirect", "sslTemporaryRedirect", "sslHost", "sslForceHost",
                      "featurePolicy"};
  const wh_schema *s = wh_mw_headers.schema;
  for (size_t k = 0; k < 5; k++) {
    bool found = false;
    for (size_t i = 0; i < s->nfields; i++)
      if (!strcmp(s->fields[i].name, v2[k])) {
        found = true;
        assert_true(s->fields[i].flags & WH_FF_DEPRECATED);
      }
    assert_true(found);
  }
}

/* ---- errors ---- */

static void test_errors(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_errors, "status", "500-599,404", "service", "errsvc", "query",
                  "/{status}.html", "statusRewrites.418", "404", "statusRewrites.500-503", "500");
  wh_mw_errors_conf *c = d->obj;
  assert_int_equal(c->status.n, 2);
  assert_string_equal(c->service, "errsvc");
  assert_int_equal(c->status_rewrites.n, 2);
  decoded_free(d);
}

static void test_errors_invalid(void **state) {
  (void)state;
  BAD(&wh_mw_errors, "service: required", "status", "500");
  BAD(&wh_mw_errors, "status[1]: invalid status \"5xx\"", "status", "404,5xx", "service", "e");
  BAD(&wh_mw_errors, "status[0]: invalid status \"599-500\"", "status", "599-500", "service", "e");
  BAD(&wh_mw_errors, "status[0]", "status", "500-", "service", "e");
  BAD(&wh_mw_errors, "statusRewrites: 418: invalid HTTP status code \"abc\"", "service", "e",
      "statusRewrites.418", "abc");
  BAD(&wh_mw_errors, "statusRewrites: invalid status \"4\"", "service", "e", "statusRewrites.4",
      "404");
}

/* ---- rateLimit ---- */

static void test_ratelimit_defaults(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_ratelimit, "average", "100");
  wh_mw_ratelimit_conf *c = d->obj;
  assert_int_equal(c->average, 100);
  assert_int_equal(c->period, WH_SEC);
  assert_int_equal(c->burst, 1);
  assert_null(c->source_criterion);
  decoded_free(d);
}

static void test_ratelimit_full(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_ratelimit, "average", "6", "period", "1m", "burst", "0",
                  "sourceCriterion.requestHeaderName", "X-Api-Key");
  wh_mw_ratelimit_conf *c = d->obj;
  assert_int_equal(c->period, 60 * WH_SEC);
  assert_int_equal(c->burst, 0);
  assert_non_null(c->source_criterion);
  assert_string_equal(c->source_criterion->request_header_name, "X-Api-Key");
  decoded_free(d);
  d = OK(&wh_mw_ratelimit, "sourceCriterion.ipStrategy.depth", "1", "period", "10");
  c = d->obj;
  assert_int_equal(c->period, 10 * WH_SEC);
  assert_int_equal(c->source_criterion->ip_strategy->depth, 1);
  decoded_free(d);
}

static void test_ratelimit_invalid(void **state) {
  (void)state;
  BAD(&wh_mw_ratelimit, "average: must be >= 0", "average", "-5");
  BAD(&wh_mw_ratelimit, "burst: must be >= 0", "burst", "-1");
  BAD(&wh_mw_ratelimit, "period: must be > 0 (got 0s)", "period", "0");
  BAD(&wh_mw_ratelimit, "period: must be > 0", "period", "-1s");
  BAD(&wh_mw_ratelimit, "sourceCriterion.ipStrategy.depth: must be >= 0",
      "sourceCriterion.ipStrategy.depth", "-2");
}

static void test_source_criterion_exclusive(void **state) {
  (void)state;
  BAD(&wh_mw_ratelimit,
      "sourceCriterion: ipStrategy, requestHeaderName and requestHost are mutually exclusive",
      "sourceCriterion.requestHost", "true", "sourceCriterion.requestHeaderName", "X-Key");
  BAD(&wh_mw_inflightreq, "sourceCriterion: ", "amount", "3", "sourceCriterion.requestHost", "true",
      "sourceCriterion.ipStrategy.depth", "1");
  /* requestHost=false is not a kind */
  decoded *d = OK(&wh_mw_ratelimit, "sourceCriterion.requestHost", "false",
                  "sourceCriterion.requestHeaderName", "X-Key");
  decoded_free(d);
}

/* ---- redirects ---- */

static void test_redirectregex(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_redirectregex, "regex", "^http://localhost/(.*)", "replacement",
                  "http://mydomain/${1}", "permanent", "true");
  wh_mw_redirectregex_conf *c = d->obj;
  assert_string_equal(c->replacement, "http://mydomain/${1}");
  assert_true(c->permanent);
  decoded_free(d);
}

static void test_redirectregex_invalid(void **state) {
  (void)state;
  BAD(&wh_mw_redirectregex, "replacement: required", "regex", "^/x");
  BAD(&wh_mw_redirectregex, "regex: required", "replacement", "/y");
  BAD(&wh_mw_redirectregex, "regex: invalid regular expression", "regex", "*x", "replacement",
      "/y");
}

static void test_redirectscheme(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_redirectscheme, "scheme", "https", "port", "8443", "permanent", "true");
  wh_mw_redirectscheme_conf *c = d->obj;
  assert_string_equal(c->scheme, "https");
  assert_string_equal(c->port, "8443");
  assert_true(c->permanent);
  decoded_free(d);
  BAD(&wh_mw_redirectscheme, "scheme: required", "permanent", "true");
}

/* ---- auth ---- */

static const char *const HASH = "$apr1$H6uskkkW$IgXLP6ewTrSuBkTrqE8wj/";

static void test_basicauth(void **state) {
  (void)state;
  char user[128];
  snprintf(user, sizeof user, "test:%s", HASH);
  decoded *d = OK(&wh_mw_basicauth, "users[0]", user, "removeHeader", "true");
  wh_mw_basicauth_conf *c = d->obj;
  assert_int_equal(c->users.n, 1);
  assert_string_equal(c->realm, "traefik");
  assert_true(c->remove_header);
  decoded_free(d);
  d = OK(&wh_mw_basicauth, "usersFile", "/etc/users", "realm", "Mine");
  assert_string_equal(((wh_mw_basicauth_conf *)d->obj)->realm, "Mine");
  decoded_free(d);
}

static void test_basicauth_invalid_never_echoes_hash(void **state) {
  (void)state;
  char good[128];
  snprintf(good, sizeof good, "test:%s", HASH);
  /* no colon: the whole entry may be a hash, which must not leak into logs */
  decoded *d = decode_kv(&wh_mw_basicauth, KV("users[0]", good, "users[1]", "bob:", "users[2]",
                                              "$2y$05$secrethashvalue"));
  assert_int_not_equal(d->rc, 0);
  assert_true(errs_contain_(d, "http.middlewares.m.basicAuth.users[1]: expected \"user:hash\""));
  assert_true(errs_contain_(d, "http.middlewares.m.basicAuth.users[2]: expected \"user:hash\""));
  assert_false(errs_contain_(d, "users[0]"));
  assert_false(errs_contain_(d, "secrethashvalue"));
  assert_false(errs_contain_(d, "$apr1$"));
  decoded_free(d);
  BAD(&wh_mw_basicauth, ": users or usersFile required", "realm", "x");
}

static void test_basicauth_users_secret(void **state) {
  (void)state;
  char user[128];
  snprintf(user, sizeof user, "test:%s", HASH);
  decoded *d = OK(&wh_mw_basicauth, "users", user, "headerField", "X-User");
  char *json = encode(d);
  assert_null(strstr(json, "users"));
  assert_null(strstr(json, "apr1"));
  assert_non_null(strstr(json, "\"realm\":\"traefik\""));
  assert_non_null(strstr(json, "\"headerField\":\"X-User\""));
  free(json);
  decoded_free(d);
}

static void test_digestauth(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_digestauth, "users", "test:traefik:a2688e031edb4be6a3797f3882655c05");
  wh_mw_digestauth_conf *c = d->obj;
  assert_string_equal(c->realm, "traefik");
  char *json = encode(d);
  assert_null(strstr(json, "a2688e031edb"));
  assert_null(strstr(json, "users"));
  free(json);
  decoded_free(d);
  BAD(&wh_mw_digestauth, "users[0]: expected \"user:realm:hash\"", "users", "test:a2688e031edb");
  BAD(&wh_mw_digestauth, ": users or usersFile required", "removeHeader", "true");
}

static void test_forwardauth(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_forwardauth, "address", "https://auth.example.com/verify",
                  "trustForwardHeader", "true", "authResponseHeaders", "X-Auth-User,X-Secret",
                  "authResponseHeadersRegex", "^X-", "tls.ca", "/certs/ca.pem", "tls.cert",
                  "/certs/c.pem", "tls.key", "-----BEGIN PRIVATE KEY-----TOPSECRET",
                  "tls.insecureSkipVerify", "true", "authSigninURL", "https://login/");
  wh_mw_forwardauth_conf *c = d->obj;
  assert_int_equal(c->max_body_size, -1);
  assert_int_equal(c->auth_response_headers.n, 2);
  assert_non_null(c->tls);
  assert_true(c->tls->insecure_skip_verify);
  char *json = encode(d);
  assert_null(strstr(json, "TOPSECRET"));
  assert_null(strstr(json, "\"key\""));
  assert_non_null(strstr(json, "\"cert\":\"/certs/c.pem\""));
  assert_non_null(strstr(json, "\"maxBodySize\":-1"));
  free(json);
  decoded_free(d);
}

static void test_forwardauth_invalid(void **state) {
  (void)state;
  BAD(&wh_mw_forwardauth, "address: required", "trustForwardHeader", "true");
  BAD(&wh_mw_forwardauth, "address: expected an http:// or https:// URL", "address", "auth:9000");
  BAD(&wh_mw_forwardauth, "address: expected an http:// or https:// URL", "address", "http://");
  BAD(&wh_mw_forwardauth, "address: expected an http:// or https:// URL", "address", "ftp://auth/");
  BAD(&wh_mw_forwardauth, "authResponseHeadersRegex: invalid regular expression", "address",
      "http://auth", "authResponseHeadersRegex", "[");
}

/* ---- flow control ---- */

static void test_inflightreq(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_inflightreq, "amount", "10", "sourceCriterion.ipStrategy.excludedIPs",
                  "127.0.0.1/32");
  wh_mw_inflightreq_conf *c = d->obj;
  assert_int_equal(c->amount, 10);
  assert_int_equal(c->source_criterion->ip_strategy->excluded_ips.n, 1);
  decoded_free(d);
  BAD(&wh_mw_inflightreq, "amount: must be > 0 (got 0)", "sourceCriterion.requestHost", "true");
}

static void test_buffering_defaults(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_buffering, "maxRequestBodyBytes", "2000000", "retryExpression",
                  "IsNetworkError() && Attempts() < 2");
  wh_mw_buffering_conf *c = d->obj;
  assert_int_equal(c->max_request_body_bytes, 2000000);
  assert_int_equal(c->mem_request_body_bytes, 1048576);
  assert_int_equal(c->max_response_body_bytes, 0);
  assert_int_equal(c->mem_response_body_bytes, 1048576);
  decoded_free(d);
  BAD(&wh_mw_buffering, "maxRequestBodyBytes: invalid", "maxRequestBodyBytes", "lots");
}

static void test_circuitbreaker(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_circuitbreaker, "expression", "NetworkErrorRatio() > 0.5");
  wh_mw_circuitbreaker_conf *c = d->obj;
  assert_int_equal(c->check_period, 100 * WH_MS);
  assert_int_equal(c->fallback_duration, 10 * WH_SEC);
  assert_int_equal(c->recovery_duration, 10 * WH_SEC);
  assert_int_equal(c->response_code, 503);
  decoded_free(d);
  d = OK(&wh_mw_circuitbreaker, "expression", "LatencyAtQuantileMS(50.0) > 100", "checkPeriod",
         "1s", "responseCode", "429");
  assert_int_equal(((wh_mw_circuitbreaker_conf *)d->obj)->check_period, WH_SEC);
  assert_int_equal(((wh_mw_circuitbreaker_conf *)d->obj)->response_code, 429);
  decoded_free(d);
  BAD(&wh_mw_circuitbreaker, "expression: required", "checkPeriod", "1s");
  BAD(&wh_mw_circuitbreaker, "responseCode: invalid HTTP status code 0", "expression", "x",
      "responseCode", "0");
}

static void test_retry(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_retry, "attempts", "4", "initialInterval", "100ms");
  wh_mw_retry_conf *c = d->obj;
  assert_int_equal(c->attempts, 4);
  assert_int_equal(c->initial_interval, 100 * WH_MS);
  decoded_free(d);
  BAD(&wh_mw_retry, "attempts: must be > 0", "initialInterval", "1s");
  BAD(&wh_mw_retry, "attempts: must be > 0 (got -1)", "attempts", "-1");
}

/* ---- response shaping ---- */

static void test_compress_defaults(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_compress, "excludedContentTypes", "text/event-stream");
  wh_mw_compress_conf *c = d->obj;
  assert_int_equal(c->min_response_body_bytes, 1024);
  assert_int_equal(c->encodings.n, 3);
  assert_string_equal(c->encodings.v[0], "gzip");
  decoded_free(d);
  /* a given list replaces the default one */
  d = OK(&wh_mw_compress, "encodings", "br", "defaultEncoding", "br", "includedContentTypes",
         "text/html");
  c = d->obj;
  assert_int_equal(c->encodings.n, 1);
  assert_string_equal(c->default_encoding, "br");
  decoded_free(d);
}

static void test_compress_invalid(void **state) {
  (void)state;
  BAD(&wh_mw_compress, ": includedContentTypes and excludedContentTypes are mutually exclusive",
      "includedContentTypes", "text/html", "excludedContentTypes", "image/png");
  BAD(&wh_mw_compress, "encodings[1]: unsupported encoding \"deflate\"", "encodings",
      "gzip,deflate");
  BAD(&wh_mw_compress, "defaultEncoding: \"zstd\" is not one of encodings", "encodings", "gzip",
      "defaultEncoding", "zstd");
  BAD(&wh_mw_compress, "minResponseBodyBytes: must be >= 0", "minResponseBodyBytes", "-1");
}

static void test_passtlsclientcert(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_passtlsclientcert, "pem", "true", "info.notAfter", "true",
                  "info.subject.commonName", "true", "info.subject.organizationalUnit", "true",
                  "info.issuer.domainComponent", "true", "info.serialNumber", "true");
  wh_mw_passtlsclientcert_conf *c = d->obj;
  assert_true(c->pem);
  assert_true(c->info->not_after);
  assert_true(c->info->serial_number);
  assert_true(c->info->subject->common_name);
  assert_true(c->info->subject->organizational_unit);
  assert_true(c->info->issuer->domain_component);
  decoded_free(d);
  /* Traefik's issuer has no organizationalUnit */
  BAD(&wh_mw_passtlsclientcert, "info.issuer.organizationalUnit: unknown key",
      "info.issuer.organizationalUnit", "true");
  BAD(&wh_mw_passtlsclientcert, "info.subject: expected a mapping", "info.subject", "yes");
}

static void test_contenttype(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_contenttype, "autoDetect", "true");
  assert_true(((wh_mw_contenttype_conf *)d->obj)->auto_detect);
  decoded_free(d);
  BAD(&wh_mw_contenttype, "autodetected: unknown key", "autodetected", "true");
}

static void test_grpcweb(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_grpcweb, "allowOrigins", "https://a.example,*");
  assert_int_equal(((wh_mw_grpcweb_conf *)d->obj)->allow_origins.n, 2);
  decoded_free(d);
  BAD(&wh_mw_grpcweb, "allowOrigin: unknown key (did you mean \"allowOrigins\"?)", "allowOrigin",
      "*");
}

/* ---- TCP ---- */

static void test_tcp_inflightconn(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_tcp_inflightconn, "amount", "5");
  assert_int_equal(((wh_mw_tcp_inflightconn_conf *)d->obj)->amount, 5);
  assert_string_equal(d->path, "tcp.middlewares.m.inFlightConn");
  decoded_free(d);
  BAD(&wh_mw_tcp_inflightconn, "amount: must be > 0", "amount", "0");
}

static void test_tcp_ipallowlist(void **state) {
  (void)state;
  decoded *d = OK(&wh_mw_tcp_ipallowlist, "sourceRange", "10.0.0.0/8,fe80::/10");
  assert_int_equal(((wh_mw_tcp_ipallowlist_conf *)d->obj)->source_range.n, 2);
  decoded_free(d);
  BAD(&wh_mw_tcp_ipallowlist, "sourceRange[0]: invalid IP address", "sourceRange", "10.0.0.256");
  BAD(&wh_mw_tcp_ipallowlist, "sourceRange: must not be empty", "sourceRange", "");
  /* TCP has no ipStrategy: there are no forwarded headers to read */
  BAD(&wh_mw_tcp_ipallowlist, "ipStrategy: unknown key", "sourceRange", "10.0.0.0/8",
      "ipStrategy.depth", "1");
  d = OK(&wh_mw_tcp_ipwhitelist, "sourceRange", "127.0.0.1");
  decoded_free(d);
}

/* ---- helpers ---- */

static void test_ip_or_cidr(void **state) {
  (void)state;
  const char *good[] = {"1.2.3.4", "0.0.0.0/0",   "10.0.0.0/8",     "255.255.255.255/32", "::",
                        "::/0",    "2001:db8::1", "2001:db8::/128", "::ffff:1.2.3.4"};
  const char *bad[] = {"",           "1.2.3",        "1.2.3.4/33", "1.2.3.4/-1",   "1.2.3.4/a",
                       "01.2.3.4",   "1.2.3.4/ 8",   "::1/129",    "fe80::1%eth0", "/8",
                       "1.2.3.4//8", "1.2.3.4/0008", "host"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    assert_true(wh_mw_ip_or_cidr_valid(good[i]));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (wh_mw_ip_or_cidr_valid(bad[i]))
      print_message("accepted: %s\n", bad[i]);
    assert_false(wh_mw_ip_or_cidr_valid(bad[i]));
  }
  assert_false(wh_mw_ip_or_cidr_valid(NULL));
}

static void test_status_range(void **state) {
  (void)state;
  assert_true(wh_mw_status_range_valid("404"));
  assert_true(wh_mw_status_range_valid("500-599"));
  assert_true(wh_mw_status_range_valid("500-500"));
  assert_false(wh_mw_status_range_valid("600"));
  assert_false(wh_mw_status_range_valid("99"));
  assert_false(wh_mw_status_range_valid("0404"));
  assert_false(wh_mw_status_range_valid("500-"));
  assert_false(wh_mw_status_range_valid("-500"));
  assert_false(wh_mw_status_range_valid("500-599-600"));
  assert_false(wh_mw_status_range_valid("500 "));
  assert_false(wh_mw_status_range_valid(NULL));
}

static void test_http_url(void **state) {
  (void)state;
  assert_true(wh_mw_http_url_valid("http://auth"));
  assert_true(wh_mw_http_url_valid("HTTPS://auth.example:8443/verify?x=1"));
  assert_true(wh_mw_http_url_valid("http://[::1]:9000/"));
  assert_false(wh_mw_http_url_valid("http://"));
  assert_false(wh_mw_http_url_valid("http:///path"));
  assert_false(wh_mw_http_url_valid("http://a b/"));
  assert_false(wh_mw_http_url_valid("auth:80"));
  assert_false(wh_mw_http_url_valid(NULL));
}

static void test_error_without_path(void **state) {
  (void)state;
  /* decoding at the root (path "") gives bare option names */
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_int_equal(wh_node_set_dotted(root, "amount", "0", NULL, 0), 0);
  void *obj = wh_schema_new(wh_mw_inflightreq.schema);
  assert_int_not_equal(wh_schema_decode(wh_mw_inflightreq.schema, root, obj, "", &errs), 0);
  assert_int_equal(errs.n, 1);
  assert_string_equal(errs.items[0], "amount: must be > 0 (got 0)");
  wh_schema_destroy(wh_mw_inflightreq.schema, obj);
  wh_node_free(root);
  wh_errlist_free(&errs);
}

/* ---- through the dynamic configuration ---- */

static const wh_middleware *mw_get(const wh_map *m, const char *name) {
  const wh_middleware *mw = wh_map_get(m, name);
  assert_non_null(mw);
  return mw;
}

static void test_registry_through_dynamic_decode(void **state) {
  (void)state;
  assert_int_equal(wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len), 0);
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(root);
  const char *kv[] = {"http.middlewares.gz.compress",
                      "true",
                      "http.middlewares.old.ipWhiteList.sourceRange",
                      "10.0.0.0/8",
                      "http.middlewares.rl.rateLimit.average",
                      "-1",
                      "tcp.middlewares.t.ipAllowList.sourceRange",
                      "10.0.0.1",
                      NULL};
  for (size_t i = 0; kv[i]; i += 2)
    assert_int_equal(wh_node_set_dotted(root, kv[i], kv[i + 1], "test", 0), 0);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = wh_dyn_config_decode(root, "test", &errs);
  assert_non_null(c);
  assert_int_equal(errs.n, 0);

  void *cfg = NULL;
  size_t count = 0;
  /* compress=true: enabled with its defaults */
  assert_ptr_equal(
      wh_middleware_type(mw_get(&c->http->middlewares, "gz"), WH_MW_HTTP, &cfg, &count),
      &wh_mw_compress);
  assert_int_equal(((wh_mw_compress_conf *)cfg)->min_response_body_bytes, 1024);
  /* the v2 name resolves to the v3 type */
  assert_ptr_equal(
      wh_middleware_type(mw_get(&c->http->middlewares, "old"), WH_MW_HTTP, &cfg, &count),
      &wh_mw_ipallowlist);
  assert_int_equal(((wh_mw_ipallowlist_conf *)cfg)->source_range.n, 1);
  assert_ptr_equal(wh_middleware_type(mw_get(&c->tcp->middlewares, "t"), WH_MW_TCP, &cfg, &count),
                   &wh_mw_tcp_ipallowlist);

  /* a failed validate hook disables that element only, naming the option */
  bool found = false;
  for (size_t i = 0; i < c->n_elem_errors; i++) {
    const wh_elem_error *e = &c->elem_errors[i];
    assert_string_equal(e->name, "rl");
    assert_string_equal(e->section, "http.middlewares");
    found = errs_contain(&e->errs, "rateLimit.average: must be >= 0");
  }
  assert_true(found);
  wh_dyn_config_free(c);
  wh_errlist_free(&errs);
  wh_node_free(root);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_registry_lists_every_type),
      cmocka_unit_test(test_registry_field_flags),
      cmocka_unit_test(test_addprefix),
      cmocka_unit_test(test_addprefix_unknown_key_suggests),
      cmocka_unit_test(test_stripprefix),
      cmocka_unit_test(test_stripprefixregex),
      cmocka_unit_test(test_regex_error_has_pcre_message_and_offset),
      cmocka_unit_test(test_replacepath),
      cmocka_unit_test(test_replacepathregex),
      cmocka_unit_test(test_chain),
      cmocka_unit_test(test_ipallowlist),
      cmocka_unit_test(test_ipallowlist_bad_ranges),
      cmocka_unit_test(test_ipallowlist_reject_status),
      cmocka_unit_test(test_ipallowlist_ipstrategy_allow_empty),
      cmocka_unit_test(test_ipstrategy_validation),
      cmocka_unit_test(test_ipwhitelist_alias),
      cmocka_unit_test(test_headers),
      cmocka_unit_test(test_headers_invalid),
      cmocka_unit_test(test_headers_v2_fields_deprecated),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_errors_invalid),
      cmocka_unit_test(test_ratelimit_defaults),
      cmocka_unit_test(test_ratelimit_full),
      cmocka_unit_test(test_ratelimit_invalid),
      cmocka_unit_test(test_source_criterion_exclusive),
      cmocka_unit_test(test_redirectregex),
      cmocka_unit_test(test_redirectregex_invalid),
      cmocka_unit_test(test_redirectscheme),
      cmocka_unit_test(test_basicauth),
      cmocka_unit_test(test_basicauth_invalid_never_echoes_hash),
      cmocka_unit_test(test_basicauth_users_secret),
      cmocka_unit_test(test_digestauth),
      cmocka_unit_test(test_forwardauth),
      cmocka_unit_test(test_forwardauth_invalid),
      cmocka_unit_test(test_inflightreq),
      cmocka_unit_test(test_buffering_defaults),
      cmocka_unit_test(test_circuitbreaker),
      cmocka_unit_test(test_retry),
      cmocka_unit_test(test_compress_defaults),
      cmocka_unit_test(test_compress_invalid),
      cmocka_unit_test(test_passtlsclientcert),
      cmocka_unit_test(test_contenttype),
      cmocka_unit_test(test_grpcweb),
      cmocka_unit_test(test_tcp_inflightconn),
      cmocka_unit_test(test_tcp_ipallowlist),
      cmocka_unit_test(test_ip_or_cidr),
      cmocka_unit_test(test_status_range),
      cmocka_unit_test(test_http_url),
      cmocka_unit_test(test_error_without_path),
      cmocka_unit_test(test_registry_through_dynamic_decode),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
