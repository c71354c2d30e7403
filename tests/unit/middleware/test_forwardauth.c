/* forwardAuth without the network: the header fields sent to the auth
 * server (Traefik's writeHeader, after the entry point's forwarded headers),
 * the reading of the auth answer, Location resolution (Go's URL.Parse on the
 * auth address), what a 2xx copies onto the request, what a refusal sends
 * to the client, and the configurations that fail closed. */
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
#include "lib/core/err.h"
#include "lib/http/exchange.h"
#include "lib/http/headers.h"
#include "lib/http/request.h"
#include "middleware/forwardauth.h"
#include "middleware/forwardauth_msg.h"

/* ---- harness ---- */

#define KV(...) ((const char *const[]){__VA_ARGS__, NULL})

static wh_mw_forwardauth_conf *conf_(const char *const *kv) {
  wh_node *root = wh_node_new(WH_NODE_MAP, NULL, NULL);
  assert_non_null(root);
  for (size_t i = 0; kv[i]; i += 2)
    assert_int_equal(wh_node_set_dotted(root, kv[i], kv[i + 1], "test", 0), 0);
  wh_mw_forwardauth_conf *c = wh_schema_new(wh_mw_forwardauth.schema);
  assert_non_null(c);
  wh_errlist errs;
  wh_errlist_init(&errs);
  int rc =
      wh_schema_decode(wh_mw_forwardauth.schema, root, c, "http.middlewares.a.forwardAuth", &errs);
  for (size_t i = 0; i < errs.n; i++)
    print_message("  error: %s\n", errs.items[i]);
  assert_int_equal(rc, 0);
  wh_errlist_free(&errs);
  wh_node_free(root);
  return c;
}
#define CONF(...) conf_(KV(__VA_ARGS__))

static void conf_free(wh_mw_forwardauth_conf *c) {
  wh_schema_destroy(wh_mw_forwardauth.schema, c);
}

#define MAXH 16

typedef struct tx {
  wh_http_req req;
  wh_http_resp resp;
  wh_mw_exchange x;
  char *names[MAXH], *vals[MAXH];
} tx;

/* A request from ip with the given header pairs (NULL-terminated). */
static tx *tx_new_(const char *ip, const char *target, const char *const *hv) {
  tx *t = calloc(1, sizeof *t);
  assert_non_null(t);
  size_t n = 0;
  t->names[n] = "Host";
  t->vals[n++] = "app.example";
  for (size_t i = 0; hv && hv[i]; i += 2) {
    assert_true(n < MAXH);
    t->names[n] = (char *)hv[i];
    t->vals[n++] = (char *)hv[i + 1];
  }
  t->req.method = "GET";
  t->req.target = target;
  const char *q = strchr(target, '?');
  t->req.path = q ? strndup(target, (size_t)(q - target)) : strdup(target);
  t->req.query = q ? q + 1 : NULL;
  t->req.host = "app.example";
  t->req.nheaders = n;
  t->req.hdr_names = t->names;
  t->req.hdr_values = t->vals;
  t->req.body = "";
  if (strchr(ip, ':')) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&t->req.peer;
    s6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
  } else {
    struct sockaddr_in *sin = (struct sockaddr_in *)&t->req.peer;
    sin->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
  }
  t->req.http_minor = 1;
  wh_http_resp_init(&t->resp);
  t->x.req = &t->req;
  t->x.path = strdup(t->req.path);
  t->x.resp = &t->resp;
  t->x.mw_name = "fa@file";
  t->x.level = 1;
  return t;
}
#define TX(ip, target, ...) tx_new_(ip, target, KV(__VA_ARGS__))
#define TX0(ip, target) tx_new_(ip, target, NULL)

static void tx_free(tx *t) {
  wh_http_resp_free(&t->resp);
  free((char *)t->req.path);
  wh_mw_exchange_free(&t->x);
  free(t);
}

/* The fields sent to the auth server. */
static wh_headers *sent(const wh_mw_forwardauth_conf *c, const tx *t) {
  wh_headers *h = calloc(1, sizeof(*h));
  wh_headers_init(h);
  assert_int_equal(wh_fwdauth_request_headers(c, &t->x, "proxy-1", h), 0);
  return h;
}

static void sent_free(wh_headers *h) {
  wh_headers_free(h);
  free(h);
}

static const char *get(const wh_headers *h, const char *name) {
  return wh_headers_get(h, name);
}

/* An auth answer from raw head lines. */
static wh_headers *answer_(const char *const *lines) {
  wh_headers *h = calloc(1, sizeof(*h));
  wh_headers_init(h);
  for (size_t i = 0; lines[i]; i++)
    assert_int_equal(wh_fwdauth_parse_header_line(h, lines[i], strlen(lines[i])), 0);
  return h;
}
#define ANSWER(...) answer_(KV(__VA_ARGS__))

/* ---- the request to the auth server ---- */

static void test_request_headers_untrusted(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c = CONF("address", "http://auth:9000/verify");
  tx *t = TX("192.0.2.7", "/a/b?x=1", "Authorization", "Bearer t", "Cookie", "s=1",
             "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil", "X_Forwarded_Proto", "https",
             "X-Real-Ip", "6.6.6.6", "X-Forwarded-Prefix", "/p", "Connection", "keep-alive, X-Drop",
             "X-Drop", "1", "Keep-Alive", "5", "TE", "trailers", "Upgrade", "h2c", "Content-Length",
             "0", "Proxy-Authorization", "Basic eA==");
  wh_headers *h = sent(c, t);
  assert_string_equal(get(h, "Authorization"), "Bearer t");
  assert_string_equal(get(h, "Cookie"), "s=1");
  assert_string_equal(get(h, "Proxy-Authorization"), "Basic eA=="); /* kept, as Traefik */
  assert_string_equal(get(h, "X-Forwarded-For"), "192.0.2.7");
  assert_int_equal(wh_headers_count(h, "X-Forwarded-For"), 1);
  assert_string_equal(get(h, "X-Forwarded-Host"), "app.example");
  assert_string_equal(get(h, "X-Forwarded-Proto"), "http");
  assert_string_equal(get(h, "X-Forwarded-Method"), "GET");
  assert_string_equal(get(h, "X-Forwarded-Uri"), "/a/b?x=1");
  assert_string_equal(get(h, "X-Forwarded-Port"), "80");
  const char *gone[] = {"X_Forwarded_Proto",  "X-Real-Ip",  "X-Forwarded-Prefix",
                        "X-Forwarded-Server", "Connection", "X-Drop",
                        "Keep-Alive",         "TE",         "Upgrade",
                        "Content-Length",     "Host"};
  for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
    assert_null(get(h, gone[i]));
  sent_free(h);
  tx_free(t);
  conf_free(c);
}

static void test_request_headers_trusted(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c = CONF("address", "http://auth/", "trustForwardHeader", "true");
  /* a peer in forwardedHeaders.trustedIPs: its X-Forwarded-* stand */
  tx *t = TX("10.0.0.1", "/x", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https",
             "X-Forwarded-Uri", "/orig", "X-Forwarded-Prefix", "/p");
  t->x.fwd_trusted = true;
  wh_headers *h = sent(c, t);
  assert_string_equal(get(h, "X-Forwarded-For"), "203.0.113.9, 10.0.0.1");
  assert_string_equal(get(h, "X-Forwarded-Proto"), "https");
  assert_string_equal(get(h, "X-Forwarded-Port"), "443"); /* from the proto */
  assert_string_equal(get(h, "X-Forwarded-Uri"), "/orig");
  assert_string_equal(get(h, "X-Forwarded-Prefix"), "/p");
  assert_string_equal(get(h, "X-Real-Ip"), "10.0.0.1"); /* filled by the entry point */
  assert_string_equal(get(h, "X-Forwarded-Server"), "proxy-1");
  sent_free(h);
  tx_free(t);

  /* an untrusted peer: the entry point dropped them before trustForwardHeader sees them */
  t = TX("10.0.0.1", "/x", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Proto", "https");
  h = sent(c, t);
  assert_string_equal(get(h, "X-Forwarded-For"), "10.0.0.1");
  assert_string_equal(get(h, "X-Forwarded-Proto"), "http");
  sent_free(h);
  tx_free(t);
  conf_free(c);
}

static void test_request_headers_filter(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c =
      CONF("address", "http://auth/", "authRequestHeaders", "authorization,X-Missing");
  tx *t = TX("127.0.0.1", "/", "Authorization", "a", "Cookie", "c", "User-Agent", "ua");
  wh_headers *h = sent(c, t);
  assert_string_equal(get(h, "Authorization"), "a");
  assert_null(get(h, "Cookie"));
  assert_null(get(h, "User-Agent"));
  assert_null(get(h, "X-Missing"));
  assert_string_equal(get(h, "X-Forwarded-Method"), "GET"); /* added after the filter */
  sent_free(h);
  tx_free(t);
  conf_free(c);

  /* trustForwardHeader adds the managed X headers to the list */
  c = CONF("address", "http://auth/", "authRequestHeaders", "Authorization", "trustForwardHeader",
           "true");
  t = TX("10.0.0.1", "/", "X-Forwarded-Host", "front.example", "Cookie", "c");
  t->x.fwd_trusted = true;
  h = sent(c, t);
  assert_string_equal(get(h, "X-Forwarded-Host"), "front.example");
  assert_null(get(h, "Cookie"));
  sent_free(h);
  tx_free(t);
  conf_free(c);
}

static void test_request_headers_after_earlier_middlewares(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c = CONF("address", "http://auth/");
  tx *t = TX("::ffff:192.0.2.1", "/api/v1/x?q=1", "X-Remove", "1", "X-Keep", "k");
  /* stripPrefix /api ran first, and a headers middleware */
  free(t->x.path);
  t->x.path = strdup("/v1/x");
  assert_int_equal(wh_mw_exchange_set_header(&t->x, "X-Remove", NULL), 0);
  assert_int_equal(wh_mw_exchange_set_header(&t->x, "X-Added", "yes"), 0);
  t->x.is_tls = true;
  t->req.host = "app.example:8443";
  wh_headers *h = sent(c, t);
  assert_null(get(h, "X-Remove"));
  assert_string_equal(get(h, "X-Added"), "yes");
  assert_string_equal(get(h, "X-Keep"), "k");
  assert_string_equal(get(h, "X-Forwarded-Uri"), "/v1/x?q=1");
  assert_string_equal(get(h, "X-Forwarded-Proto"), "https");
  assert_string_equal(get(h, "X-Forwarded-Port"), "8443");
  assert_string_equal(get(h, "X-Forwarded-Host"), "app.example:8443");
  assert_string_equal(get(h, "X-Forwarded-For"), "192.0.2.1");
  sent_free(h);
  tx_free(t);
  conf_free(c);
}

static void test_request_uri(void **state) {
  (void)state;
  tx *t = TX0("127.0.0.1", "/a%2Fb?x=%20");
  char *u = wh_fwdauth_request_uri(&t->x);
  assert_string_equal(u, "/a%2Fb?x=%20"); /* as received when nothing rewrote it */
  free(u);
  free(t->x.path);
  t->x.path = strdup("/b");
  u = wh_fwdauth_request_uri(&t->x);
  assert_string_equal(u, "/b?x=%20");
  free(u);
  tx_free(t);
}

static void test_canonical_key(void **state) {
  (void)state;
  const char *cases[][2] = {
      {"x-auth-user", "X-Auth-User"},
      {"X-AUTH-USER", "X-Auth-User"},
      {"www-authenticate", "Www-Authenticate"},
      {"a", "A"},
      {"bad key", "bad key"},
      {"x_forwarded", "X_forwarded"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *k = wh_fwdauth_canonical_key(cases[i][0]);
    assert_string_equal(k, cases[i][1]);
    free(k);
  }
}

/* ---- the answer ---- */

static void test_parse_header_lines(void **state) {
  (void)state;
  wh_headers *h = ANSWER(
      "HTTP/1.1 100 Continue\r\n", "X-Interim: 1\r\n", "\r\n", "HTTP/1.1 401 Unauthorized\r\n",
      "WWW-Authenticate:  Bearer x \r\n", "Set-Cookie: a=1\r\n", "Set-Cookie: b=2\r\n",
      " folded\r\n", "no colon\r\n", ": empty name\r\n", "Bad Name: v\r\n", "Empty:\r\n", "\r\n");
  assert_null(get(h, "X-Interim")); /* the interim answer's fields are dropped */
  assert_string_equal(get(h, "WWW-Authenticate"), "Bearer x");
  assert_int_equal(wh_headers_count(h, "Set-Cookie"), 2);
  assert_string_equal(get(h, "Empty"), "");
  assert_int_equal(h->n, 4);
  sent_free(h);
}

static void check_resolve(const char *base, const char *ref, const char *want) {
  bool bad = true;
  char *got = wh_fwdauth_resolve_url(base, ref, &bad);
  if (!want) {
    assert_null(got);
    assert_true(bad);
    return;
  }
  assert_false(bad);
  assert_non_null(got);
  if (strcmp(got, want) != 0)
    print_message("resolve(%s, %s) = %s, want %s\n", base, ref, got, want);
  assert_string_equal(got, want);
  free(got);
}

static void test_resolve_location(void **state) {
  (void)state;
  const char *b = "http://auth:9000/oauth2/auth?x=1";
  check_resolve(b, "https://sso.example/login?rd=1", "https://sso.example/login?rd=1");
  check_resolve(b, "//sso.example/x", "http://sso.example/x");
  check_resolve(b, "/sign_in?rd=%2F", "http://auth:9000/sign_in?rd=%2F");
  check_resolve(b, "start", "http://auth:9000/oauth2/start");
  check_resolve(b, "../login?rd=1", "http://auth:9000/login?rd=1");
  check_resolve(b, "../../../x", "http://auth:9000/x");
  check_resolve(b, "./a/./b/../c", "http://auth:9000/oauth2/a/c");
  check_resolve(b, "..", "http://auth:9000/");
  check_resolve(b, "?y=2", "http://auth:9000/oauth2/auth?y=2");
  check_resolve(b, "#frag", "http://auth:9000/oauth2/auth?x=1#frag");
  check_resolve("http://auth:9000", "login", "http://auth:9000/login");
  check_resolve(b, "/a%zz", NULL);
  check_resolve(b, "/a\x01", NULL);
}

static void test_allowed_copies_headers(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c =
      CONF("address", "http://auth/", "authResponseHeaders", "x-auth-user,X-Auth-Absent",
           "authResponseHeadersRegex", "^X-Group");
  tx *t = TX("127.0.0.1", "/", "X-Auth-User", "mallory", "X-Auth-Absent", "spoof", "X-Group-Client",
             "spoof", "x-group-lower", "spoof", "X-Other", "keep");
  wh_headers *a = ANSWER("HTTP/1.1 200 OK\r\n", "X-Auth-User: alice\r\n", "X-Group-A: 1\r\n",
                         "X-Group-A: 2\r\n", "x-group-b: 3\r\n", "X-Secret: s\r\n");
  assert_int_equal(wh_fwdauth_apply_allowed(c, &t->x, a), 0);
  assert_string_equal(wh_mw_exchange_header(&t->x, "X-Auth-User"), "alice");
  assert_null(wh_mw_exchange_header(&t->x, "X-Auth-Absent")); /* removed, not re-added */
  assert_null(wh_mw_exchange_header(&t->x, "X-Group-Client"));
  assert_null(wh_mw_exchange_header(&t->x, "X-Group-Lower")); /* canonical key matched */
  assert_string_equal(wh_mw_exchange_header(&t->x, "X-Group-A"), "1, 2");
  assert_string_equal(wh_mw_exchange_header(&t->x, "X-Group-B"), "3");
  assert_null(wh_mw_exchange_header(&t->x, "X-Secret"));
  assert_string_equal(wh_mw_exchange_header(&t->x, "X-Other"), "keep");
  sent_free(a);
  tx_free(t);
  conf_free(c);
}

static void test_listed_cookies(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c =
      CONF("address", "http://auth/", "addAuthCookiesToResponse", "session,csrf");
  wh_headers *a = ANSWER("Set-Cookie: other=1; Path=/\r\n", "Set-Cookie: Session=2\r\n",
                         "Set-Cookie: junk\r\n", "Set-Cookie: a;b=1\r\n");
  assert_int_equal(wh_fwdauth_listed_cookies(c, a), 0); /* names are case-sensitive */
  sent_free(a);
  a = ANSWER("Set-Cookie: session=2; HttpOnly\r\n", "Set-Cookie:  csrf =3\r\n",
             "X-Set-Cookie: session=1\r\n");
  assert_int_equal(wh_fwdauth_listed_cookies(c, a), 2);
  sent_free(a);
  conf_free(c);
}

static void test_denied_answer(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c = CONF("address", "http://auth:9000/oauth2/auth");
  tx *t = TX0("127.0.0.1", "/");
  wh_headers *a =
      ANSWER("HTTP/1.1 302 Found\r\n", "Location: ../start?rd=%2F\r\n", "Set-Cookie: csrf=1\r\n",
             "Content-Length: 4\r\n", "Date: x\r\n", "Connection: keep-alive\r\n",
             "Transfer-Encoding: chunked\r\n", "Content-Type: text/html\r\n");
  assert_int_equal(wh_fwdauth_fill_denied(c, &t->x, 302, a, "body", 4), 0);
  assert_int_equal(t->resp.status, 302);
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Location"),
                      "http://auth:9000/start?rd=%2F");
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Set-Cookie"), "csrf=1");
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Content-Type"), "text/html");
  assert_null(wh_http_resp_get_header(&t->resp, "Content-Length"));
  assert_null(wh_http_resp_get_header(&t->resp, "Date"));
  assert_null(wh_http_resp_get_header(&t->resp, "Connection"));
  assert_null(wh_http_resp_get_header(&t->resp, "Transfer-Encoding"));
  assert_string_equal(wh_strbuf_cstr(&t->resp.body), "body");
  sent_free(a);
  tx_free(t);
  conf_free(c);

  c = CONF("address", "http://auth/", "preserveLocationHeader", "true");
  t = TX0("127.0.0.1", "/");
  a = ANSWER("Location: ../start\r\n");
  assert_int_equal(wh_fwdauth_fill_denied(c, &t->x, 307, a, NULL, 0), 0);
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Location"), "../start");
  sent_free(a);
  tx_free(t);
  conf_free(c);
}

static void test_denied_bad_location(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c = CONF("address", "http://auth/");
  tx *t = TX0("127.0.0.1", "/");
  wh_headers *a = ANSWER("Location: /%zz\r\n");
  assert_int_equal(wh_fwdauth_fill_denied(c, &t->x, 302, a, NULL, 0), WH_EINVAL);
  sent_free(a);
  /* an empty Location is no Location (Go's ErrNoLocation): copied as it is */
  a = ANSWER("Location:\r\n");
  assert_int_equal(wh_fwdauth_fill_denied(c, &t->x, 403, a, NULL, 0), 0);
  assert_int_equal(t->resp.status, 403);
  sent_free(a);
  tx_free(t);
  conf_free(c);
}

static void test_signin_redirect(void **state) {
  (void)state;
  tx *t = TX0("127.0.0.1", "/");
  assert_int_equal(wh_fwdauth_fill_signin(&t->x, "https://login/?a=1&b=\"2\""), 0);
  assert_int_equal(t->resp.status, 302);
  assert_string_equal(wh_http_resp_get_header(&t->resp, "Location"), "https://login/?a=1&b=\"2\"");
  assert_string_equal(wh_strbuf_cstr(&t->resp.body),
                      "<a href=\"https://login/?a=1&amp;b=&#34;2&#34;\">Found</a>.\n\n");
  tx_free(t);
  t = TX0("127.0.0.1", "/");
  t->req.method = "HEAD";
  assert_int_equal(wh_fwdauth_fill_signin(&t->x, "https://login/"), 0);
  assert_int_equal(t->resp.body.len, 0);
  tx_free(t);
}

/* ---- the hook's fail-closed paths ---- */

static void test_hook_fails_closed(void **state) {
  (void)state;
  /* forwardBody: the body is not available to middlewares */
  wh_mw_forwardauth_conf *c = CONF("address", "http://auth/", "forwardBody", "true");
  tx *t = TX0("127.0.0.1", "/");
  assert_int_equal(wh_mw_forwardauth.on_request(c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  tx_free(t);
  conf_free(c);

  /* a client certificate without its key */
  c = CONF("address", "https://auth/", "tls.cert", "/nonexistent/cert.pem");
  t = TX0("127.0.0.1", "/");
  assert_int_equal(wh_mw_forwardauth.on_request(c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  tx_free(t);
  conf_free(c);

  /* no data plane to suspend the exchange with */
  c = CONF("address", "http://127.0.0.1:1/");
  t = TX0("127.0.0.1", "/");
  assert_int_equal(wh_mw_forwardauth.on_request(c, &t->x), WH_MW_DONE);
  assert_int_equal(t->resp.status, 500);
  assert_null(wh_mw_exchange_header(&t->x, "X-Forwarded-For")); /* nothing else changed */
  tx_free(t);
  conf_free(c);
}

static void test_max_response_body_size_option(void **state) {
  (void)state;
  wh_mw_forwardauth_conf *c = CONF("address", "http://auth/");
  assert_int_equal(c->max_response_body_size, -1);
  conf_free(c);
  c = CONF("address", "http://auth/", "maxResponseBodySize", "4096");
  assert_int_equal(c->max_response_body_size, 4096);
  conf_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_request_headers_untrusted),
      cmocka_unit_test(test_request_headers_trusted),
      cmocka_unit_test(test_request_headers_filter),
      cmocka_unit_test(test_request_headers_after_earlier_middlewares),
      cmocka_unit_test(test_request_uri),
      cmocka_unit_test(test_canonical_key),
      cmocka_unit_test(test_parse_header_lines),
      cmocka_unit_test(test_resolve_location),
      cmocka_unit_test(test_allowed_copies_headers),
      cmocka_unit_test(test_listed_cookies),
      cmocka_unit_test(test_denied_answer),
      cmocka_unit_test(test_denied_bad_location),
      cmocka_unit_test(test_signin_redirect),
      cmocka_unit_test(test_hook_fails_closed),
      cmocka_unit_test(test_max_response_body_size_option),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
