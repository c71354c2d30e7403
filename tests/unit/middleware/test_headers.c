/* Runtime of the headers middleware: custom request/response headers, the
 * security headers (HSTS only over HTTPS), allowedHosts and CORS, as
 * Traefik's pkg/middlewares/headers (with unrolled/secure) behaves. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "lib/config/schema.h"
#include "lib/config/tree.h"
#include "lib/http/exchange.h"
#include "lib/http/request.h"
#include "middleware/headers.h"

/* ---- harness ---- */

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Decodes "key", "value", ... the way labels give them (lists comma-separated). */
static wh_mw_headers_conf *conf_(const char *const *kv) {
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(root);
  for (size_t i = 0; kv[i]; i += 2)
    assert_int_equal(wh_node_set_dotted(root, kv[i], kv[i + 1], "test", 0), 0);
  wh_mw_headers_conf *c = wh_schema_new(wh_mw_headers.schema);
  assert_non_null(c);
  wh_errlist errs;
  wh_errlist_init(&errs);
  int rc = wh_schema_decode(wh_mw_headers.schema, root, c, "http.middlewares.h.headers", &errs);
  for (size_t i = 0; i < errs.n; i++)
    print_message("  error: %s\n", errs.items[i]);
  assert_int_equal(rc, 0);
  wh_errlist_free(&errs);
  wh_node_free(root);
  return c;
}
#define CONF(...) conf_(KV(__VA_ARGS__))

static void conf_free(wh_mw_headers_conf *c) {
  wh_schema_destroy(wh_mw_headers.schema, c);
}

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *names[16], *vals[16];
} tx;

/* A request from 127.0.0.1 with the given headers ("Name", "value", ...). */
static tx *tx_new_(const char *method, const char *host, bool tls, const char *const *hdrs) {
  tx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  size_t n = 0;
  for (; hdrs && hdrs[2 * n]; n++) {
    assert_true(n < 16);
    t->names[n] = (char *)hdrs[2 * n];
    t->vals[n] = (char *)hdrs[2 * n + 1];
  }
  t->req.method = method;
  t->req.target = "/p?q=1";
  t->req.path = "/p";
  t->req.query = "q=1";
  t->req.host = host;
  t->req.nheaders = n;
  t->req.hdr_names = t->names;
  t->req.hdr_values = t->vals;
  t->req.body = "";
  struct sockaddr_in *sin = (struct sockaddr_in *)&t->req.peer;
  sin->sin_family = AF_INET;
  sin->sin_port = htons(40000);
  inet_pton(AF_INET, "127.0.0.1", &sin->sin_addr);
  t->req.http_minor = 1;
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.is_tls = tls;
  t->x.path = strdup("/p");
  t->x.resp = &t->resp;
  t->x.mw_name = "h@file";
  t->x.level = 1;
  return t;
}
#define NOHDR ((const char *const *)NULL)
#define TX(method, host, tls, ...) tx_new_((method), (host), (tls), KV(__VA_ARGS__))

static void tx_free(tx *t) {
  wh_http_resp_free(&t->resp);
  wh_mw_exchange_free(&t->x);
  free(t);
}

static int run(const wh_mw_headers_conf *c, tx *t) {
  return wh_mw_headers.on_request(c, &t->x);
}

/* What the client gets when the backend answers with these headers. */
static void backend_resp(tx *t, wh_http_resp *b, const char *const *hdrs) {
  wh_http_resp_init(b);
  b->status = 200;
  for (size_t i = 0; hdrs && hdrs[i]; i += 2)
    assert_int_equal(wh_http_resp_header(b, hdrs[i], hdrs[i + 1]), 0);
  wh_resp_edits_apply_local(t->x.edits, t->x.nedits, b);
}

/* The local answer, with this middleware's edits applied as the data plane does. */
static wh_http_resp *local(tx *t) {
  wh_resp_edits_apply_local(t->x.edits, t->x.nedits, &t->resp);
  return &t->resp;
}

static const char *set_header(const tx *t, const char *name, bool *present) {
  for (size_t i = 0; i < t->x.set_headers.n; i++)
    if (strcasecmp(t->x.set_headers.keys[i], name) == 0) {
      *present = true;
      return t->x.set_headers.vals[i];
    }
  *present = false;
  return NULL;
}

static size_t count_header(const wh_http_resp *r, const char *name) {
  size_t n = 0;
  for (size_t i = 0; i < r->nheaders; i++)
    n += strcasecmp(r->hdr_names[i], name) == 0;
  return n;
}

#define HSTS_CONF "stsSeconds", "31536000", "stsIncludeSubdomains", "true", "stsPreload", "true"

/* ---- HSTS ---- */

static void test_hsts_on_tls_exact_value(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF(HSTS_CONF);
  tx *t = TX("GET", "a.test", true, "Accept", "*/*");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  wh_http_resp b;
  backend_resp(t, &b, KV("Strict-Transport-Security", "max-age=1"));
  assert_string_equal(wh_http_resp_get_header(&b, "Strict-Transport-Security"),
                      "max-age=31536000; includeSubDomains; preload");
  assert_int_equal(count_header(&b, "Strict-Transport-Security"), 1);
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_hsts_absent_on_plain_http(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF(HSTS_CONF);
  tx *t = TX("GET", "a.test", false, "Accept", "*/*");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_hsts_variants(void **state) {
  (void)state;
  /* forceSTSHeader sends it over plain HTTP; no flags gives max-age alone */
  wh_mw_headers_conf *c = CONF("stsSeconds", "60", "forceSTSHeader", "true");
  tx *t = TX("GET", "a.test", false, "A", "b");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_string_equal(wh_http_resp_get_header(&b, "Strict-Transport-Security"), "max-age=60");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
  /* stsSeconds 0 means no header, whatever the flags */
  c = CONF("stsSeconds", "0", "stsIncludeSubdomains", "true", "forceSTSHeader", "true");
  t = TX("GET", "a.test", true, "A", "b");
  run(c, t);
  backend_resp(t, &b, NOHDR);
  assert_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_hsts_is_development_disables(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF(HSTS_CONF, "forceSTSHeader", "true", "isDevelopment", "true",
                               "publicKey", "pin-sha256=\"x\"");
  tx *t = TX("GET", "a.test", true, "A", "b");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
  assert_null(wh_http_resp_get_header(&b, "Public-Key-Pins"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_hsts_ssl_proxy_header(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF(HSTS_CONF, "sslProxyHeaders.X-Forwarded-Ssl", "on");
  tx *t = TX("GET", "a.test", false, "x-forwarded-ssl", "on");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_non_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
  wh_http_resp_free(&b);
  tx_free(t);
  /* the value must be equal, case included (Go compares with ==) */
  t = TX("GET", "a.test", false, "X-Forwarded-Ssl", "ON");
  run(c, t);
  backend_resp(t, &b, NOHDR);
  assert_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

/* X-Forwarded-Proto is rebuilt from the socket for a client that is not a
 * trusted proxy: a plain-HTTP client claiming https gets no HSTS. */
static void test_hsts_spoofed_forwarded_proto_ignored(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF(HSTS_CONF, "sslProxyHeaders.X-Forwarded-Proto", "https");
  const char *spoofs[] = {"X-Forwarded-Proto", "x-forwarded-proto", "X_Forwarded_Proto"};
  for (size_t i = 0; i < 3; i++) {
    tx *t = tx_new_("GET", "a.test", false, KV(spoofs[i], "https"));
    run(c, t);
    wh_http_resp b;
    backend_resp(t, &b, NOHDR);
    assert_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
    wh_http_resp_free(&b);
    tx_free(t);
  }
  /* over TLS the rebuilt value is https: still HSTS */
  tx *t = TX("GET", "a.test", true, "X-Forwarded-Proto", "http");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_non_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

/* ---- custom headers ---- */

static void test_custom_request_headers_set_and_delete(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("customRequestHeaders.X-Script-Name", "test", "customRequestHeaders.X-Secret", "",
           "customRequestHeaders.X-Forwarded-For", "");
  tx *t = TX("GET", "a.test", false, "X-Script-Name", "old", "X-Secret", "s3");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  bool present;
  assert_string_equal(set_header(t, "X-Script-Name", &present), "test");
  assert_null(set_header(t, "X-Secret", &present));
  assert_true(present); /* removed, not merely untouched */
  assert_null(wh_mw_exchange_header(&t->x, "X-Secret"));
  assert_null(set_header(t, "X-Forwarded-For", &present));
  assert_true(present); /* no X-Forwarded-For appended */
  tx_free(t);
  conf_free(c);
}

static void test_custom_request_host(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("customRequestHeaders.Host", "backend.internal");
  tx *t = TX("GET", "a.test", false, "A", "b");
  run(c, t);
  bool present;
  assert_string_equal(set_header(t, "Host", &present), "backend.internal");
  tx_free(t);
  conf_free(c);
  /* an empty Host keeps the request's Host (Go only deletes a map entry) */
  c = CONF("customRequestHeaders.Host", "");
  t = TX("GET", "a.test", false, "Host", "a.test");
  run(c, t);
  set_header(t, "Host", &present);
  assert_false(present);
  assert_string_equal(wh_mw_exchange_header(&t->x, "Host"), "a.test");
  tx_free(t);
  conf_free(c);
}

static void test_custom_response_headers(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("customResponseHeaders.X-Backend", "", "customResponseHeaders.X-Custom", "v1",
           "customResponseHeaders.Server", "wharf");
  tx *t = TX("GET", "a.test", false, "A", "b");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  wh_http_resp b;
  backend_resp(t, &b, KV("X-Backend", "b1", "Server", "nginx", "Server", "other", "X-Keep", "k"));
  assert_null(wh_http_resp_get_header(&b, "X-Backend"));
  assert_string_equal(wh_http_resp_get_header(&b, "X-Custom"), "v1");
  assert_string_equal(wh_http_resp_get_header(&b, "Server"), "wharf");
  assert_int_equal(count_header(&b, "Server"), 1);
  assert_string_equal(wh_http_resp_get_header(&b, "X-Keep"), "k");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

/* ---- security headers ---- */

static void test_security_headers(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("frameDeny", "true", "contentTypeNosniff", "true", "browserXssFilter", "true",
           "contentSecurityPolicy", "default-src 'self'", "contentSecurityPolicyReportOnly",
           "script-src 'none'", "referrerPolicy", "no-referrer", "permissionsPolicy", "camera=()",
           "featurePolicy", "vibrate 'none'");
  tx *t = TX("GET", "a.test", false, "A", "b");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, KV("X-Frame-Options", "ALLOWALL"));
  assert_string_equal(wh_http_resp_get_header(&b, "X-Frame-Options"), "DENY");
  assert_int_equal(count_header(&b, "X-Frame-Options"), 1);
  assert_string_equal(wh_http_resp_get_header(&b, "X-Content-Type-Options"), "nosniff");
  assert_string_equal(wh_http_resp_get_header(&b, "X-XSS-Protection"), "1; mode=block");
  assert_string_equal(wh_http_resp_get_header(&b, "Content-Security-Policy"), "default-src 'self'");
  assert_string_equal(wh_http_resp_get_header(&b, "Content-Security-Policy-Report-Only"),
                      "script-src 'none'");
  assert_string_equal(wh_http_resp_get_header(&b, "Referrer-Policy"), "no-referrer");
  assert_string_equal(wh_http_resp_get_header(&b, "Permissions-Policy"), "camera=()");
  assert_string_equal(wh_http_resp_get_header(&b, "Feature-Policy"), "vibrate 'none'");
  assert_null(wh_http_resp_get_header(&b, "Strict-Transport-Security"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_security_custom_values_override(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("frameDeny", "true", "customFrameOptionsValue", "SAMEORIGIN",
                               "browserXssFilter", "true", "customBrowserXSSValue", "0");
  tx *t = TX("GET", "a.test", false, "A", "b");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_string_equal(wh_http_resp_get_header(&b, "X-Frame-Options"), "SAMEORIGIN");
  assert_string_equal(wh_http_resp_get_header(&b, "X-XSS-Protection"), "0");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

/* Header wraps Secure in Traefik: customResponseHeaders win over the
 * security headers, and may delete them. */
static void test_custom_response_wins_over_security(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("frameDeny", "true", "contentTypeNosniff", "true",
                               "customResponseHeaders.X-Frame-Options", "SAMEORIGIN",
                               "customResponseHeaders.X-Content-Type-Options", "");
  tx *t = TX("GET", "a.test", false, "A", "b");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_string_equal(wh_http_resp_get_header(&b, "X-Frame-Options"), "SAMEORIGIN");
  assert_null(wh_http_resp_get_header(&b, "X-Content-Type-Options"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_public_key_only_over_https(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("publicKey", "pin-sha256=\"base64==\"; max-age=10");
  for (int tls = 0; tls < 2; tls++) {
    tx *t = TX("GET", "a.test", tls, "A", "b");
    run(c, t);
    wh_http_resp b;
    backend_resp(t, &b, NOHDR);
    const char *v = wh_http_resp_get_header(&b, "Public-Key-Pins");
    if (tls)
      assert_string_equal(v, "pin-sha256=\"base64==\"; max-age=10");
    else
      assert_null(v);
    wh_http_resp_free(&b);
    tx_free(t);
  }
  conf_free(c);
}

/* ---- allowedHosts ---- */

static void test_allowed_hosts(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("allowedHosts", "good.test,other.test", "frameDeny", "true");
  tx *t = TX("GET", "GOOD.Test", false, "A", "b");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  const char *bad[] = {"evil.test", "good.test:8080", "good.test.", ""};
  for (size_t i = 0; i < 4; i++) {
    t = TX("GET", bad[i], false, "A", "b");
    assert_int_equal(run(c, t), WH_MW_DONE);
    wh_http_resp *r = local(t);
    assert_int_equal(r->status, 500);
    assert_string_equal(wh_strbuf_cstr(&r->body), "Bad Host\n");
    assert_string_equal(wh_http_resp_get_header(r, "Content-Type"), "text/plain; charset=utf-8");
    /* the security headers are not part of the Bad Host answer */
    assert_null(wh_http_resp_get_header(r, "X-Frame-Options"));
    tx_free(t);
  }
  conf_free(c);
}

static void test_allowed_hosts_is_development(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("allowedHosts", "good.test", "isDevelopment", "true");
  tx *t = TX("GET", "evil.test", false, "A", "b");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  conf_free(c);
}

static void test_hosts_proxy_headers(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("allowedHosts", "good.test", "hostsProxyHeaders", "X-Original-Host,X-Forwarded-Host");
  /* a non-forwarded header the client sends is what Traefik reads too */
  tx *t = TX("GET", "evil.test", false, "X-Original-Host", "good.test");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  t = TX("GET", "good.test", false, "X-Original-Host", "evil.test");
  assert_int_equal(run(c, t), WH_MW_DONE);
  tx_free(t);
  /* an empty value falls through to the next header / the Host */
  t = TX("GET", "good.test", false, "X-Original-Host", "");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  /* X-Forwarded-Host from a client is replaced by its Host before Traefik's
   * middlewares see it: it cannot smuggle an allowed name */
  t = TX("GET", "evil.test", false, "X-Forwarded-Host", "good.test");
  assert_int_equal(run(c, t), WH_MW_DONE);
  tx_free(t);
  conf_free(c);
}

static void test_allowed_hosts_sees_rewritten_host(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("allowedHosts", "internal.test", "customRequestHeaders.Host", "internal.test");
  tx *t = TX("GET", "public.test", false, "A", "b");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  conf_free(c);
}

static void test_bad_host_keeps_custom_response_headers(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("allowedHosts", "good.test", "customResponseHeaders.X-Custom", "yes",
           "customResponseHeaders.X-Content-Type-Options", "", "accessControlAllowOriginList", "*");
  tx *t = TX("GET", "evil.test", false, "Origin", "https://o.test");
  assert_int_equal(run(c, t), WH_MW_DONE);
  wh_http_resp *r = local(t);
  assert_int_equal(r->status, 500);
  assert_string_equal(wh_http_resp_get_header(r, "X-Custom"), "yes");
  assert_null(wh_http_resp_get_header(r, "X-Content-Type-Options"));
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Origin"), "*");
  tx_free(t);
  conf_free(c);
}

/* ---- CORS ---- */

static void test_cors_preflight(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("accessControlAllowMethods", "GET,OPTIONS,PUT", "accessControlAllowHeaders", "X-A,X-B",
           "accessControlAllowOriginList", "https://a.test,https://b.test", "accessControlMaxAge",
           "100", "accessControlExposeHeaders", "X-E", "addVaryHeader", "true",
           "customResponseHeaders.X-Custom", "c", "frameDeny", "true", "allowedHosts", "only.test");
  /* the preflight is answered before allowedHosts is looked at */
  tx *t = TX("OPTIONS", "a.test", false, "Origin", "https://b.test",
             "Access-Control-Request-Method", "PUT");
  assert_int_equal(run(c, t), WH_MW_DONE);
  assert_int_equal(t->x.nedits, 0);
  wh_http_resp *r = local(t);
  assert_int_equal(r->status, 200);
  assert_int_equal(r->body.len, 0);
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Methods"),
                      "GET,OPTIONS,PUT");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Headers"), "X-A,X-B");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Origin"), "https://b.test");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Max-Age"), "100");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Expose-Headers"), "X-E");
  assert_null(wh_http_resp_get_header(r, "Access-Control-Allow-Credentials"));
  assert_null(wh_http_resp_get_header(r, "Vary"));
  assert_null(wh_http_resp_get_header(r, "X-Custom"));
  assert_null(wh_http_resp_get_header(r, "X-Frame-Options"));
  tx_free(t);
  /* an origin not listed gets no Access-Control-Allow-Origin, still 200 */
  t = TX("OPTIONS", "a.test", false, "Origin", "https://evil.test", "Access-Control-Request-Method",
         "GET");
  assert_int_equal(run(c, t), WH_MW_DONE);
  assert_int_equal(local(t)->status, 200);
  assert_null(wh_http_resp_get_header(&t->resp, "Access-Control-Allow-Origin"));
  tx_free(t);
  conf_free(c);
}

static void test_cors_preflight_wildcards_with_credentials(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("accessControlAllowCredentials", "true", "accessControlAllowMethods", "*",
           "accessControlAllowHeaders", "*", "accessControlAllowOriginList", "*",
           "accessControlExposeHeaders", "*");
  tx *t =
      TX("OPTIONS", "a.test", false, "Origin", "https://x.test", "Access-Control-Request-Method",
         "DELETE", "Access-Control-Request-Headers", "x-token,content-type");
  assert_int_equal(run(c, t), WH_MW_DONE);
  wh_http_resp *r = local(t);
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Credentials"), "true");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Methods"), "DELETE");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Headers"),
                      "x-token,content-type");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Origin"), "https://x.test");
  assert_null(wh_http_resp_get_header(r, "Access-Control-Expose-Headers"));
  assert_null(wh_http_resp_get_header(r, "Access-Control-Max-Age"));
  tx_free(t);
  /* without credentials "*" stays literal */
  conf_free(c);
  c = CONF("accessControlAllowMethods", "*", "accessControlAllowOriginList", "*",
           "accessControlExposeHeaders", "*");
  t = TX("OPTIONS", "a.test", false, "Origin", "https://x.test", "Access-Control-Request-Method",
         "DELETE");
  assert_int_equal(run(c, t), WH_MW_DONE);
  r = local(t);
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Methods"), "*");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Allow-Origin"), "*");
  assert_string_equal(wh_http_resp_get_header(r, "Access-Control-Expose-Headers"), "*");
  tx_free(t);
  conf_free(c);
}

static void test_cors_not_preflight(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("accessControlAllowOriginList", "https://a.test", "accessControlAllowMethods", "GET");
  /* OPTIONS without Access-Control-Request-Method, or without Origin, goes on */
  tx *t = TX("OPTIONS", "a.test", false, "Origin", "https://a.test");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  t = TX("OPTIONS", "a.test", false, "Access-Control-Request-Method", "GET");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  /* a GET with the headers of a preflight is not one */
  t = TX("GET", "a.test", false, "Origin", "https://a.test", "Access-Control-Request-Method",
         "GET");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  conf_free(c);
  /* no CORS option at all: an OPTIONS preflight reaches the backend */
  c = CONF("frameDeny", "true");
  t = TX("OPTIONS", "a.test", false, "Origin", "https://a.test", "Access-Control-Request-Method",
         "GET");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  conf_free(c);
}

static void test_cors_simple_request_headers(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("accessControlAllowOriginList", "*", "accessControlAllowCredentials", "true",
           "accessControlExposeHeaders", "X-E1,X-E2", "accessControlAllowMethods", "GET");
  tx *t = TX("GET", "a.test", false, "Origin", "https://o.test");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  wh_http_resp b;
  backend_resp(t, &b, KV("Access-Control-Allow-Origin", "https://backend.test"));
  assert_string_equal(wh_http_resp_get_header(&b, "Access-Control-Allow-Origin"), "https://o.test");
  assert_int_equal(count_header(&b, "Access-Control-Allow-Origin"), 1);
  assert_string_equal(wh_http_resp_get_header(&b, "Access-Control-Allow-Credentials"), "true");
  assert_string_equal(wh_http_resp_get_header(&b, "Access-Control-Expose-Headers"), "X-E1,X-E2");
  /* Allow-Methods belongs to preflights only */
  assert_null(wh_http_resp_get_header(&b, "Access-Control-Allow-Methods"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_cors_wildcard_without_origin(void **state) {
  (void)state;
  /* Traefik matches "*" against the empty Origin of a non-CORS request */
  wh_mw_headers_conf *c = CONF("accessControlAllowOriginList", "*");
  tx *t = TX("GET", "a.test", false, "A", "b");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_string_equal(wh_http_resp_get_header(&b, "Access-Control-Allow-Origin"), "*");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
  /* an exact list gives nothing without an Origin */
  c = CONF("accessControlAllowOriginList", "https://a.test");
  t = TX("GET", "a.test", false, "A", "b");
  run(c, t);
  backend_resp(t, &b, NOHDR);
  assert_null(wh_http_resp_get_header(&b, "Access-Control-Allow-Origin"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_cors_origin_regex(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("accessControlAllowOriginListRegex", "^https://[a-z]+\\.good\\.test$",
           "accessControlAllowOriginList", "https://exact.test");
  struct {
    const char *origin, *want;
  } cases[] = {
      {"https://app.good.test", "https://app.good.test"},
      {"https://exact.test", "https://exact.test"},
      {"https://app.good.test.evil", NULL},
      {"http://app.good.test", NULL},
      {"https://exact.test.evil", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tx *t = tx_new_("GET", "a.test", false, KV("Origin", cases[i].origin));
    run(c, t);
    wh_http_resp b;
    backend_resp(t, &b, NOHDR);
    const char *v = wh_http_resp_get_header(&b, "Access-Control-Allow-Origin");
    if (cases[i].want)
      assert_string_equal(v, cases[i].want);
    else
      assert_null(v);
    wh_http_resp_free(&b);
    tx_free(t);
  }
  conf_free(c);
  /* Go's MatchString searches: an unanchored pattern matches inside */
  c = CONF("accessControlAllowOriginListRegex", "good");
  tx *t = TX("GET", "a.test", false, "Origin", "https://very-good.test");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_string_equal(wh_http_resp_get_header(&b, "Access-Control-Allow-Origin"),
                      "https://very-good.test");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_cors_null_origin(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("accessControlAllowOriginList", "https://a.test");
  tx *t = TX("GET", "a.test", false, "Origin", "null");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, NOHDR);
  assert_null(wh_http_resp_get_header(&b, "Access-Control-Allow-Origin"));
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
  /* only when listed literally */
  c = CONF("accessControlAllowOriginList", "null");
  t = TX("GET", "a.test", false, "Origin", "null");
  run(c, t);
  backend_resp(t, &b, NOHDR);
  assert_string_equal(wh_http_resp_get_header(&b, "Access-Control-Allow-Origin"), "null");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

static void test_cors_vary(void **state) {
  (void)state;
  wh_mw_headers_conf *c =
      CONF("accessControlAllowOriginList", "https://a.test", "addVaryHeader", "true");
  tx *t = TX("GET", "a.test", false, "Origin", "https://a.test");
  run(c, t);
  wh_http_resp b;
  backend_resp(t, &b, KV("Vary", "Accept-Encoding"));
  assert_string_equal(wh_http_resp_get_header(&b, "Vary"), "Accept-Encoding, Origin");
  wh_http_resp_free(&b);
  backend_resp(t, &b, KV("Vary", "Origin"));
  assert_string_equal(wh_http_resp_get_header(&b, "Vary"), "Origin");
  wh_http_resp_free(&b);
  backend_resp(t, &b, NOHDR);
  assert_string_equal(wh_http_resp_get_header(&b, "Vary"), "Origin");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
  /* without addVaryHeader the backend's Vary is untouched */
  c = CONF("accessControlAllowOriginList", "https://a.test");
  t = TX("GET", "a.test", false, "Origin", "https://a.test");
  run(c, t);
  backend_resp(t, &b, KV("Vary", "Accept-Encoding"));
  assert_string_equal(wh_http_resp_get_header(&b, "Vary"), "Accept-Encoding");
  wh_http_resp_free(&b);
  tx_free(t);
  conf_free(c);
}

/* ---- what the runtime cannot honour: fail closed ---- */

static void test_v2_ssl_redirect_fails_closed(void **state) {
  (void)state;
  const char *const *confs[] = {
      KV("sslRedirect", "true"),
      KV("sslTemporaryRedirect", "true"),
      KV("sslHost", "secure.test"),
      KV("sslForceHost", "true"),
  };
  for (size_t i = 0; i < 4; i++) {
    wh_mw_headers_conf *c = conf_(confs[i]);
    tx *t = TX("GET", "a.test", false, "A", "b");
    assert_int_equal(run(c, t), WH_MW_DONE);
    assert_int_equal(t->resp.status, 500);
    assert_null(wh_http_resp_get_header(&t->resp, "Location"));
    tx_free(t);
    conf_free(c);
  }
  /* sslRedirect: false is harmless */
  wh_mw_headers_conf *c = CONF("sslRedirect", "false", "frameDeny", "true");
  tx *t = TX("GET", "a.test", false, "A", "b");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  conf_free(c);
}

static void test_header_injection_fails_closed(void **state) {
  (void)state;
  const char *const *confs[] = {
      KV("customRequestHeaders.X-A", "v\r\nX-Injected: 1"),
      KV("customResponseHeaders.X-A", "v\nSet-Cookie: a=b"),
      KV("customResponseHeaders.Bad Name", "v"),
      KV("contentSecurityPolicy", "default-src\r\n'self'"),
  };
  for (size_t i = 0; i < 4; i++) {
    wh_mw_headers_conf *c = conf_(confs[i]);
    tx *t = TX("GET", "a.test", false, "A", "b");
    assert_int_equal(run(c, t), WH_MW_DONE);
    assert_int_equal(t->resp.status, 500);
    assert_int_equal(t->x.set_headers.n, 0);
    assert_int_equal(t->x.nedits, 0);
    tx_free(t);
    conf_free(c);
  }
  /* a tab inside a value is fine */
  wh_mw_headers_conf *c = CONF("customResponseHeaders.X-A", "a\tb");
  tx *t = TX("GET", "a.test", false, "A", "b");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  tx_free(t);
  conf_free(c);
}

static void test_empty_config_passes_through(void **state) {
  (void)state;
  wh_mw_headers_conf *c = CONF("isDevelopment", "false");
  tx *t = TX("GET", "a.test", true, "Origin", "https://a.test");
  assert_int_equal(run(c, t), WH_MW_NEXT);
  assert_int_equal(t->x.set_headers.n, 0);
  assert_int_equal(t->x.nedits, 0);
  tx_free(t);
  conf_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hsts_on_tls_exact_value),
      cmocka_unit_test(test_hsts_absent_on_plain_http),
      cmocka_unit_test(test_hsts_variants),
      cmocka_unit_test(test_hsts_is_development_disables),
      cmocka_unit_test(test_hsts_ssl_proxy_header),
      cmocka_unit_test(test_hsts_spoofed_forwarded_proto_ignored),
      cmocka_unit_test(test_custom_request_headers_set_and_delete),
      cmocka_unit_test(test_custom_request_host),
      cmocka_unit_test(test_custom_response_headers),
      cmocka_unit_test(test_security_headers),
      cmocka_unit_test(test_security_custom_values_override),
      cmocka_unit_test(test_custom_response_wins_over_security),
      cmocka_unit_test(test_public_key_only_over_https),
      cmocka_unit_test(test_allowed_hosts),
      cmocka_unit_test(test_allowed_hosts_is_development),
      cmocka_unit_test(test_hosts_proxy_headers),
      cmocka_unit_test(test_allowed_hosts_sees_rewritten_host),
      cmocka_unit_test(test_bad_host_keeps_custom_response_headers),
      cmocka_unit_test(test_cors_preflight),
      cmocka_unit_test(test_cors_preflight_wildcards_with_credentials),
      cmocka_unit_test(test_cors_not_preflight),
      cmocka_unit_test(test_cors_simple_request_headers),
      cmocka_unit_test(test_cors_wildcard_without_origin),
      cmocka_unit_test(test_cors_origin_regex),
      cmocka_unit_test(test_cors_null_origin),
      cmocka_unit_test(test_cors_vary),
      cmocka_unit_test(test_v2_ssl_redirect_fails_closed),
      cmocka_unit_test(test_header_injection_fails_closed),
      cmocka_unit_test(test_empty_config_passes_through),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
