/* The ACME challenge registry (lib/acme/challenges.c), the HTTP-01 answer
 * (acme-http@internal and its internal router) and the TLS-ALPN-01 answer
 * driven through lib/tls/server.c in memory (lib/tls/acme_alpn.c). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/support/config_fixture.h"

#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/acme/challenges.h"
#include "lib/config/load.h"
#include "lib/config/runtime.h"
#include "lib/core/err.h"
#include "lib/core/str.h"
#include "lib/http/request.h"
#include "lib/proxy/conn.h"
#include "lib/tls/acme_alpn.h"
#include "lib/tls/certificate.h"
#include "lib/tls/server.h"
#include "lib/tls/tls_stream.h"
#include "middleware/registry.h"
#include "providers/internal/internal.h"

#define TOKEN "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
#define KEYAUTH TOKEN ".9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"

static int reset(void **state) {
  (void)state;
  wh_acme_chal_clear();
  return 0;
}

/* ---- HTTP-01 registry ---- */

static void test_http_add_get_remove(void **state) {
  (void)state;
  char out[WH_ACME_KEYAUTH_MAX + 1];
  assert_false(wh_acme_chal_http_get(TOKEN, out, sizeof(out)));
  assert_int_equal(wh_acme_chal_http_add(TOKEN, KEYAUTH), 0);
  assert_int_equal(wh_acme_chal_http_count(), 1);
  assert_true(wh_acme_chal_http_get(TOKEN, out, sizeof(out)));
  assert_string_equal(out, KEYAUTH);
  /* too small a buffer: no partial answer */
  char small[8];
  assert_false(wh_acme_chal_http_get(TOKEN, small, sizeof(small)));
  /* replacing keeps one entry */
  assert_int_equal(wh_acme_chal_http_add(TOKEN, "abc.def"), 0);
  assert_int_equal(wh_acme_chal_http_count(), 1);
  assert_true(wh_acme_chal_http_get(TOKEN, out, sizeof(out)));
  assert_string_equal(out, "abc.def");
  assert_false(wh_acme_chal_http_get("other", out, sizeof(out)));
  assert_int_equal(wh_acme_chal_http_remove(TOKEN), 0);
  assert_int_equal(wh_acme_chal_http_remove(TOKEN), WH_ENOENT);
  assert_false(wh_acme_chal_http_get(TOKEN, out, sizeof(out)));
  assert_int_equal(wh_acme_chal_http_count(), 0);
  /* HTTP-01 entries never raise the TLS flag */
  assert_int_equal(wh_acme_chal_http_add(TOKEN, KEYAUTH), 0);
  assert_false(wh_acme_chal_tls_any());
}

static void test_http_bad_input(void **state) {
  (void)state;
  char long_tok[WH_ACME_TOKEN_MAX + 2];
  memset(long_tok, 'a', sizeof(long_tok) - 1);
  long_tok[sizeof(long_tok) - 1] = '\0';
  const char *bad_tokens[] = {"", "a/b", "a.b", "a%2Fb", "a b", "ab=", "é", long_tok};
  for (size_t i = 0; i < sizeof(bad_tokens) / sizeof(bad_tokens[0]); i++)
    assert_int_equal(wh_acme_chal_http_add(bad_tokens[i], KEYAUTH), WH_EINVAL);
  long_tok[WH_ACME_TOKEN_MAX] = '\0'; /* exactly the maximum */
  assert_int_equal(wh_acme_chal_http_add(long_tok, KEYAUTH), 0);
  char ka[WH_ACME_KEYAUTH_MAX + 2];
  memset(ka, 'k', sizeof(ka) - 1);
  ka[sizeof(ka) - 1] = '\0';
  assert_int_equal(wh_acme_chal_http_add(TOKEN, ka), WH_EINVAL);
  assert_int_equal(wh_acme_chal_http_add(TOKEN, ""), WH_EINVAL);
  assert_int_equal(wh_acme_chal_http_add(TOKEN, "a\nb"), WH_EINVAL);
  assert_int_equal(wh_acme_chal_http_add(TOKEN, "<script>"), WH_EINVAL);
  assert_int_equal(wh_acme_chal_http_add(NULL, KEYAUTH), WH_EINVAL);
  assert_int_equal(wh_acme_chal_http_add(TOKEN, NULL), WH_EINVAL);
  assert_int_equal(wh_acme_chal_http_count(), 1);
  char out[WH_ACME_KEYAUTH_MAX + 1];
  assert_false(wh_acme_chal_http_get("a/b", out, sizeof(out)));
  assert_false(wh_acme_chal_http_get("", out, sizeof(out)));
}

static void test_http_token_from_path(void **state) {
  (void)state;
  char tok[WH_ACME_TOKEN_MAX + 1];
  assert_true(wh_acme_chal_http_token("/.well-known/acme-challenge/" TOKEN, tok));
  assert_string_equal(tok, TOKEN);
  assert_true(wh_acme_chal_http_token("/.well-known/acme-challenge/abc/", tok));
  assert_string_equal(tok, "abc");
  const char *bad[] = {
      "/.well-known/acme-challenge/",     "/.well-known/acme-challenge//",
      "/.well-known/acme-challenge/a/b",  "/.well-known/acme-challenge/a//",
      "/.well-known/acme-challenge/../x", "/.well-known/acme-challenge/a%2e",
      "/.well-known/acme-challengeX",     "/x/.well-known/acme-challenge/a",
      "/.WELL-KNOWN/acme-challenge/a",    "",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(wh_acme_chal_http_token(bad[i], tok));
  assert_false(wh_acme_chal_http_token(NULL, tok));
  char path[256];
  snprintf(path, sizeof(path), "/.well-known/acme-challenge/%0*d", WH_ACME_TOKEN_MAX + 1, 7);
  assert_false(wh_acme_chal_http_token(path, tok));
  snprintf(path, sizeof(path), "/.well-known/acme-challenge/%0*d", WH_ACME_TOKEN_MAX, 7);
  assert_true(wh_acme_chal_http_token(path, tok));
  assert_int_equal(strlen(tok), WH_ACME_TOKEN_MAX);
}

static void test_http_bounded(void **state) {
  (void)state;
  char tok[32];
  for (int i = 0; i < WH_ACME_CHAL_MAX; i++) {
    snprintf(tok, sizeof(tok), "t%d", i);
    assert_int_equal(wh_acme_chal_http_add(tok, KEYAUTH), 0);
  }
  assert_int_equal(wh_acme_chal_http_count(), WH_ACME_CHAL_MAX);
  assert_int_equal(wh_acme_chal_http_add("one-more", KEYAUTH), WH_ERR);
  /* a replacement needs no room */
  assert_int_equal(wh_acme_chal_http_add("t5", "x.y"), 0);
  assert_int_equal(wh_acme_chal_http_remove("t7"), 0);
  assert_int_equal(wh_acme_chal_http_add("one-more", KEYAUTH), 0);
  char out[WH_ACME_KEYAUTH_MAX + 1];
  assert_true(wh_acme_chal_http_get("t999", out, sizeof(out)));
  assert_true(wh_acme_chal_http_get("t5", out, sizeof(out)));
  assert_string_equal(out, "x.y");
  assert_false(wh_acme_chal_http_get("t7", out, sizeof(out)));
}

/* ---- the HTTP-01 answer: acme-http@internal ---- */

static int serve(const char *path, wh_http_resp *resp) {
  wh_http_req req;
  memset(&req, 0, sizeof(req));
  req.method = "GET";
  req.path = path;
  req.target = path;
  req.host = "whatever.example";
  wh_http_resp_init(resp);
  /* acme-http@internal reads nothing of the snapshot */
  assert_true(wh_internal_serve(NULL, "acme-http@internal", &req, path, false, resp));
  return resp->status ? resp->status : 200;
}

static const char *resp_header(const wh_http_resp *r, const char *name) {
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcasecmp(r->hdr_names[i], name) == 0)
      return r->hdr_values[i];
  return NULL;
}

static void test_http_internal_service(void **state) {
  (void)state;
  wh_http_resp r;
  assert_int_equal(serve("/.well-known/acme-challenge/" TOKEN, &r), 404);
  assert_string_equal(wh_strbuf_cstr(&r.body), "404 page not found\n");
  wh_http_resp_free(&r);
  assert_int_equal(wh_acme_chal_http_add(TOKEN, KEYAUTH), 0);
  assert_int_equal(serve("/.well-known/acme-challenge/" TOKEN, &r), 200);
  assert_string_equal(wh_strbuf_cstr(&r.body), KEYAUTH);
  assert_non_null(resp_header(&r, "Content-Type"));
  assert_true(strncmp(resp_header(&r, "Content-Type"), "text/plain", 10) == 0);
  wh_http_resp_free(&r);
  assert_int_equal(serve("/.well-known/acme-challenge/" TOKEN "/", &r), 200);
  wh_http_resp_free(&r);
  assert_int_equal(serve("/.well-known/acme-challenge/" TOKEN "/x", &r), 404);
  wh_http_resp_free(&r);
  assert_int_equal(serve("/.well-known/acme-challenge/unknown", &r), 404);
  wh_http_resp_free(&r);
  assert_int_equal(serve("/.well-known/acme-challenge/", &r), 404);
  wh_http_resp_free(&r);
  wh_acme_chal_http_remove(TOKEN);
  assert_int_equal(serve("/.well-known/acme-challenge/" TOKEN, &r), 404);
  wh_http_resp_free(&r);
}

/* ---- configuration helpers ---- */

/* ---- the internal router ---- */

static const char *ACME_STATIC =
    "entryPoints:\n"
    "  web:\n    address: ':8081'\n"
    "    http: {redirections: {entryPoint: {to: websecure, scheme: https}}}\n"
    "  websecure: {address: ':8443', http: {tls: {}}}\n"
    "  other: {address: ':8082'}\n"
    "certificatesResolvers:\n"
    "  le: {acme: {email: a@example.com, httpChallenge: {entryPoint: web}}}\n"
    "  le2: {acme: {email: a@example.com, httpChallenge: {entryPoint: web}}}\n"
    "  le3: {acme: {email: a@example.com, httpChallenge: {entryPoint: other}}}\n"
    "  tlsonly: {acme: {email: a@example.com, tlsChallenge: {}}}\n";

static void test_internal_router(void **state) {
  (void)state;
  wh_static_config *stat = stat_from(ACME_STATIC);
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_dyn_config *c = wh_internal_config(stat, &errs);
  for (size_t i = 0; i < errs.n; i++)
    fprintf(stderr, "internal: %s\n", errs.items[i]);
  assert_non_null(c);
  assert_int_equal(errs.n, 0);
  const wh_http_router *r = wh_map_get(&c->http->routers, "acme-http");
  assert_non_null(r);
  assert_string_equal(r->rule, "PathPrefix(`/.well-known/acme-challenge/`)");
  assert_string_equal(r->service, "acme-http@internal");
  assert_true(r->priority == INT64_MAX);
  assert_int_equal(r->entry_points.n, 2); /* web once, other */
  assert_string_equal(r->entry_points.v[0], "web");
  assert_string_equal(r->entry_points.v[1], "other");
  assert_non_null(wh_map_get(&c->http->services, "acme-http"));
  /* the redirection stays below it */
  const wh_http_router *red = wh_map_get(&c->http->routers, "web-to-websecure");
  assert_non_null(red);
  assert_true(red->priority < r->priority);
  wh_dyn_config_free(c);
  wh_static_free(stat);

  /* no httpChallenge: no router, no service */
  stat = stat_from("entryPoints:\n  web: {address: ':8081'}\n"
                   "certificatesResolvers:\n  t: {acme: {tlsChallenge: {}}}\n");
  c = wh_internal_config(stat, &errs);
  assert_non_null(c);
  assert_null(wh_map_get(&c->http->routers, "acme-http"));
  assert_null(wh_map_get(&c->http->services, "acme-http"));
  wh_dyn_config_free(c);
  wh_static_free(stat);
  wh_errlist_free(&errs);
}

/* ---- TLS-ALPN-01 certificate ---- */

static void check_challenge_cert(X509 *x, EVP_PKEY *k, const char *domain, const char *ka) {
  /* self-signed (with the key given, when one is) */
  if (k)
    assert_int_equal(X509_check_private_key(x, k), 1);
  EVP_PKEY *pub = X509_get0_pubkey(x);
  assert_int_equal(X509_verify(x, pub), 1);
  /* its only SAN: dNSName domain */
  GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
  assert_non_null(gens);
  assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
  const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, 0);
  assert_int_equal(gn->type, GEN_DNS);
  const ASN1_IA5STRING *s = gn->d.dNSName;
  assert_int_equal(ASN1_STRING_length(s), strlen(domain));
  assert_memory_equal(ASN1_STRING_get0_data(s), domain, strlen(domain));
  GENERAL_NAMES_free(gens);
  /* id-pe-acmeIdentifier: critical, extnValue = DER OCTET STRING (32 bytes) */
  ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  assert_non_null(oid);
  int idx = X509_get_ext_by_OBJ(x, oid, -1);
  assert_true(idx >= 0);
  assert_int_equal(X509_get_ext_by_OBJ(x, oid, idx), -1); /* only one */
  ASN1_OBJECT_free(oid);
  X509_EXTENSION *ext = X509_get_ext(x, idx);
  assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(ext);
  const unsigned char *p = ASN1_STRING_get0_data(v);
  long len = ASN1_STRING_length(v);
  ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, len);
  assert_non_null(inner);
  assert_ptr_equal(p, ASN1_STRING_get0_data(v) + len); /* nothing after it */
  unsigned char want[SHA256_DIGEST_LENGTH];
  SHA256((const unsigned char *)ka, strlen(ka), want);
  assert_int_equal(ASN1_STRING_length(inner), SHA256_DIGEST_LENGTH);
  assert_memory_equal(ASN1_STRING_get0_data(inner), want, SHA256_DIGEST_LENGTH);
  ASN1_OCTET_STRING_free(inner);
  /* valid now */
  assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) < 0);
  assert_true(X509_cmp_current_time(X509_get0_notAfter(x)) > 0);
}

static void test_tls_cert(void **state) {
  (void)state;
  X509 *x = NULL;
  EVP_PKEY *k = NULL;
  assert_int_equal(wh_acme_chal_tls_cert("Www.Example.COM.", KEYAUTH, &x, &k), 0);
  check_challenge_cert(x, k, "www.example.com", KEYAUTH);
  X509_free(x);
  EVP_PKEY_free(k);
  const char *bad[] = {"",     ".",    "*.example.com", "a..b",         "a b.com", "-", "a-.b",
                       "-a.b", "a.b-", "a/.b",          "exa_mple.com", "é.com",   NULL};
  for (size_t i = 0; bad[i]; i++)
    assert_int_equal(wh_acme_chal_tls_cert(bad[i], KEYAUTH, &x, &k), WH_EINVAL);
  char label[80];
  memset(label, 'a', 64);
  strcpy(label + 64, ".com");
  assert_int_equal(wh_acme_chal_tls_cert(label, KEYAUTH, &x, &k), WH_EINVAL);
  assert_int_equal(wh_acme_chal_tls_cert("a.com", "", &x, &k), WH_EINVAL);
}

static void test_tls_registry(void **state) {
  (void)state;
  assert_false(wh_acme_chal_tls_any());
  assert_int_equal(wh_acme_chal_tls_add("*.example.com", KEYAUTH), WH_EINVAL);
  assert_int_equal(wh_acme_chal_tls_add("a.example.com", "bad key auth"), WH_EINVAL);
  assert_false(wh_acme_chal_tls_any());
  assert_int_equal(wh_acme_chal_tls_add("A.Example.com", KEYAUTH), 0);
  assert_true(wh_acme_chal_tls_any());
  assert_true(wh_acme_chal_tls_has("a.example.com"));
  assert_true(wh_acme_chal_tls_has("A.EXAMPLE.COM."));
  assert_false(wh_acme_chal_tls_has("b.example.com"));
  X509 *x = NULL;
  EVP_PKEY *k = NULL;
  /* the SNI is not NUL-terminated in a ClientHello */
  const char sni[] = "a.example.comXYZ";
  assert_true(wh_acme_chal_tls_get(sni, 13, &x, &k));
  check_challenge_cert(x, k, "a.example.com", KEYAUTH);
  /* replaced: a new certificate; the old references stay valid */
  assert_int_equal(wh_acme_chal_tls_add("a.example.com", "new.keyauth"), 0);
  assert_int_equal(atomic_load(&wh_acme_chal_tls_count), 1);
  X509 *x2 = NULL;
  EVP_PKEY *k2 = NULL;
  assert_true(wh_acme_chal_tls_get("a.example.com", 13, &x2, &k2));
  check_challenge_cert(x2, k2, "a.example.com", "new.keyauth");
  check_challenge_cert(x, k, "a.example.com", KEYAUTH);
  X509_free(x2);
  EVP_PKEY_free(k2);
  assert_int_equal(wh_acme_chal_tls_remove("a.example.com."), 0);
  assert_int_equal(wh_acme_chal_tls_remove("a.example.com"), WH_ENOENT);
  assert_false(wh_acme_chal_tls_any());
  assert_false(wh_acme_chal_tls_get("a.example.com", 13, &x2, &k2));
  check_challenge_cert(x, k, "a.example.com", KEYAUTH); /* still ours */
  X509_free(x);
  EVP_PKEY_free(k);
  assert_false(wh_acme_chal_tls_get(NULL, 0, &x, &k));
  assert_false(wh_acme_chal_tls_get("", 0, &x, &k));
}

static void test_tls_bounded(void **state) {
  (void)state;
  char d[64];
  for (int i = 0; i < WH_ACME_CHAL_MAX; i++) {
    snprintf(d, sizeof(d), "d%d.example.com", i);
    assert_int_equal(wh_acme_chal_tls_add(d, KEYAUTH), 0);
  }
  assert_int_equal(atomic_load(&wh_acme_chal_tls_count), WH_ACME_CHAL_MAX);
  assert_int_equal(wh_acme_chal_tls_add("more.example.com", KEYAUTH), WH_ERR);
  assert_int_equal(wh_acme_chal_tls_add("d3.example.com", "x.y"), 0);
  assert_int_equal(wh_acme_chal_tls_remove("d3.example.com"), 0);
  assert_int_equal(wh_acme_chal_tls_add("more.example.com", KEYAUTH), 0);
  assert_true(wh_acme_chal_tls_has("d999.example.com"));
  wh_acme_chal_clear();
  assert_false(wh_acme_chal_tls_any());
  assert_false(wh_acme_chal_tls_has("d999.example.com"));
}

/* Readers on several threads while the control thread adds and removes. */
static atomic_bool stop_readers;

static void *reader(void *arg) {
  (void)arg;
  char out[WH_ACME_KEYAUTH_MAX + 1];
  while (!atomic_load(&stop_readers)) {
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    if (wh_acme_chal_tls_get("r.example.com", 13, &x, &k)) {
      X509_free(x);
      EVP_PKEY_free(k);
    }
    if (wh_acme_chal_http_get("tok", out, sizeof(out)))
      assert_true(strcmp(out, "a.b") == 0 || strcmp(out, "c.d") == 0);
  }
  return NULL;
}

static void test_concurrent_readers(void **state) {
  (void)state;
  pthread_t th[3];
  atomic_store(&stop_readers, false);
  for (int i = 0; i < 3; i++)
    assert_int_equal(pthread_create(&th[i], NULL, reader, NULL), 0);
  for (int i = 0; i < 100; i++) {
    assert_int_equal(wh_acme_chal_tls_add("r.example.com", KEYAUTH), 0);
    assert_int_equal(wh_acme_chal_http_add("tok", i % 2 ? "a.b" : "c.d"), 0);
    if (i % 3 == 0) {
      assert_int_equal(wh_acme_chal_tls_remove("r.example.com"), 0);
      assert_int_equal(wh_acme_chal_http_remove("tok"), 0);
    }
  }
  atomic_store(&stop_readers, true);
  for (int i = 0; i < 3; i++)
    pthread_join(th[i], NULL);
}

/* ---- TLS-ALPN-01 through lib/tls/server.c ---- */

static const char *TLS_STATIC = "entryPoints:\n"
                                "  websecure: {address: ':8443', http: {tls: {}}}\n";

typedef struct fixture {
  wh_static_config *stat;
  wh_dyn_config *dyn;
  wh_runtime *rt;
  wh_tls_server *srv;
} fixture;

/* tls_yaml: the dynamic tls section. */
static void build_tls(fixture *f, const char *tls_yaml) {
  memset(f, 0, sizeof(*f));
  f->stat = stat_from(TLS_STATIC);
  char *y = NULL;
  assert_true(asprintf(&y,
                       "http:\n  routers:\n"
                       "    r: {rule: 'Host(`app.example.com`)', service: s, entryPoints: "
                       "[websecure]}\n"
                       "  services:\n    s: {loadBalancer: {servers: [{url: "
                       "'http://127.0.0.1:9'}]}}\n%s",
                       tls_yaml) > 0);
  f->dyn = dyn_from(y);
  free(y);
  wh_fragment frag = {"file", f->dyn};
  f->rt = wh_runtime_build(f->stat, &frag, 1);
  assert_non_null(f->rt);
  f->srv = wh_tls_server_build(f->stat, f->rt);
  assert_non_null(f->srv);
}

static void build(fixture *f) {
  build_tls(f, "");
}

static void done(fixture *f) {
  wh_tls_server_free(f->srv);
  wh_runtime_free(f->rt);
  wh_dyn_config_free(f->dyn);
  wh_static_free(f->stat);
}

static size_t ep(const fixture *f, const char *name) {
  for (size_t i = 0; i < f->stat->entry_points.n; i++)
    if (strcmp(f->stat->entry_points.keys[i], name) == 0)
      return i;
  fail_msg("no entry point %s", name);
  return 0;
}

static SSL_CTX *ctx_for(fixture *f, const char *epn, const char *sni) {
  const wh_tls_policy *pol = NULL;
  return wh_tls_server_ctx(f->srv, ep(f, epn), sni, NULL, &pol);
}

/* Moves bytes between two streams until both go quiet. */
static void pump(wh_tls_stream *a, wh_tls_stream *b) {
  char buf[4096];
  for (int round = 0; round < 100; round++) {
    bool moved = false;
    wh_tls_stream *ends[2] = {a, b};
    for (int k = 0; k < 2; k++) {
      wh_tls_stream *from = ends[k], *to = ends[1 - k];
      while (wh_tls_stream_read(from, buf, sizeof(buf)) > 0) {
      }
      const char *d = NULL;
      size_t n = wh_tls_stream_output(from, &d);
      if (n) {
        assert_int_equal(wh_tls_stream_feed(to, d, n), 0);
        wh_tls_stream_consumed(from);
        moved = true;
      }
    }
    if (!moved)
      return;
  }
  fail_msg("the sessions never went quiet");
}

typedef struct hs_result {
  bool cli_ok, srv_established, srv_failed;
  char alpn[32];
  X509 *peer; /* owned */
} hs_result;

/* A handshake against sctx from a client offering alpn (wire format). */
static void handshake(SSL_CTX *sctx, const char *sni, const char *alpn, size_t alpn_len,
                      int max_version, hs_result *out) {
  memset(out, 0, sizeof(*out));
  assert_non_null(sctx);
  SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(cctx);
  if (max_version)
    SSL_CTX_set_max_proto_version(cctx, max_version);
  wh_tls_stream srv, cli;
  assert_int_equal(wh_tls_stream_init_server(&srv, sctx), 0);
  assert_int_equal(wh_tls_stream_init_client(&cli, cctx, sni), 0);
  assert_int_equal(SSL_set_alpn_protos(cli.ssl, (const unsigned char *)alpn, (unsigned)alpn_len),
                   0);
  pump(&cli, &srv);
  out->cli_ok = cli.established && !cli.failed;
  out->srv_established = srv.established;
  out->srv_failed = srv.failed;
  if (out->cli_ok) {
    const unsigned char *a = NULL;
    unsigned alen = 0;
    SSL_get0_alpn_selected(cli.ssl, &a, &alen);
    memcpy(out->alpn, a, alen < sizeof(out->alpn) - 1 ? alen : sizeof(out->alpn) - 1);
    out->peer = SSL_get1_peer_certificate(cli.ssl);
    if (srv.established) {
      /* bytes after the handshake are never handed on as plaintext */
      assert_int_equal(wh_tls_stream_write(&cli, "GET / HTTP/1.1\r\n\r\n", 18), 0);
      const char *d = NULL;
      size_t n = wh_tls_stream_output(&cli, &d);
      wh_tls_stream_feed(&srv, d, n);
      wh_tls_stream_consumed(&cli);
      char buf[256];
      ssize_t got = wh_tls_stream_read(&srv, buf, sizeof(buf));
      out->srv_failed = got < 0 && got != WH_TLS_AGAIN;
      if (got > 0)
        out->srv_failed = false;
    }
  }
  wh_tls_stream_free(&cli);
  wh_tls_stream_free(&srv);
  SSL_CTX_free(cctx);
}

#define ACME_ALPN                                                                                  \
  "\x0a"                                                                                           \
  "acme-tls/1"
#define H11_ALPN                                                                                   \
  "\x08"                                                                                           \
  "http/1.1"

static void test_tls_alpn_answered(void **state) {
  (void)state;
  fixture f;
  build(&f);
  assert_int_equal(wh_acme_chal_tls_add("app.example.com", KEYAUTH), 0);
  int versions[] = {0, TLS1_2_VERSION};
  for (size_t v = 0; v < 2; v++) {
    hs_result r;
    handshake(ctx_for(&f, "websecure", "app.example.com"), "App.Example.com", ACME_ALPN,
              sizeof(ACME_ALPN) - 1, versions[v], &r);
    assert_true(r.cli_ok);
    assert_string_equal(r.alpn, "acme-tls/1");
    assert_non_null(r.peer);
    check_challenge_cert(r.peer, NULL, "app.example.com", KEYAUTH);
    X509_free(r.peer);
    /* the connection ends once the handshake is done */
    assert_true(r.srv_established);
    assert_true(r.srv_failed);
  }
  /* acme-tls/1 among other protocols is still the validation */
  hs_result r;
  handshake(ctx_for(&f, "websecure", "app.example.com"), "app.example.com", H11_ALPN ACME_ALPN,
            sizeof(H11_ALPN ACME_ALPN) - 1, 0, &r);
  assert_true(r.cli_ok);
  assert_string_equal(r.alpn, "acme-tls/1");
  X509_free(r.peer);
  done(&f);
}

static void test_tls_alpn_refused_without_challenge(void **state) {
  (void)state;
  fixture f;
  build(&f);
  hs_result r;
  /* nothing pending at all */
  handshake(ctx_for(&f, "websecure", "app.example.com"), "app.example.com", ACME_ALPN,
            sizeof(ACME_ALPN) - 1, 0, &r);
  assert_false(r.cli_ok);
  assert_false(r.srv_established);
  /* pending for another name */
  assert_int_equal(wh_acme_chal_tls_add("other.example.com", KEYAUTH), 0);
  handshake(ctx_for(&f, "websecure", "app.example.com"), "app.example.com", ACME_ALPN,
            sizeof(ACME_ALPN) - 1, 0, &r);
  assert_false(r.cli_ok);
  assert_false(r.srv_established);
  /* no SNI */
  handshake(ctx_for(&f, "websecure", NULL), NULL, ACME_ALPN, sizeof(ACME_ALPN) - 1, 0, &r);
  assert_false(r.cli_ok);
  done(&f);
}

/* Normal clients of a name with a pending challenge see nothing of it. */
static void test_tls_normal_handshake_unaffected(void **state) {
  (void)state;
  fixture f;
  build(&f);
  assert_int_equal(wh_acme_chal_tls_add("app.example.com", KEYAUTH), 0);
  hs_result r;
  handshake(ctx_for(&f, "websecure", "app.example.com"), "app.example.com", H11_ALPN,
            sizeof(H11_ALPN) - 1, 0, &r);
  assert_true(r.cli_ok);
  assert_string_equal(r.alpn, "http/1.1");
  assert_non_null(r.peer);
  ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
  assert_int_equal(X509_get_ext_by_OBJ(r.peer, oid, -1), -1);
  ASN1_OBJECT_free(oid);
  X509_free(r.peer);
  assert_true(r.srv_established);
  assert_false(r.srv_failed); /* HTTP goes on */
  done(&f);
}

static void test_tls_alpn_sni_strict(void **state) {
  (void)state;
  fixture f;
  build_tls(&f, "tls:\n  options:\n    default: {sniStrict: true}\n");
  /* no certificate for the name, sniStrict: refused before any TLS */
  assert_null(ctx_for(&f, "websecure", "new.example.com"));
  assert_int_equal(wh_acme_chal_tls_add("new.example.com", KEYAUTH), 0);
  SSL_CTX *sctx = ctx_for(&f, "websecure", "new.example.com");
  assert_non_null(sctx);
  hs_result r;
  handshake(sctx, "new.example.com", ACME_ALPN, sizeof(ACME_ALPN) - 1, 0, &r);
  assert_true(r.cli_ok);
  assert_string_equal(r.alpn, "acme-tls/1");
  check_challenge_cert(r.peer, NULL, "new.example.com", KEYAUTH);
  X509_free(r.peer);
  /* but nothing else gets the default certificate through that door */
  handshake(sctx, "new.example.com", H11_ALPN, sizeof(H11_ALPN) - 1, 0, &r);
  assert_false(r.cli_ok);
  assert_false(r.srv_established);
  assert_null(ctx_for(&f, "websecure", "stranger.example.com"));
  /* the challenge settled: the door closes */
  assert_int_equal(wh_acme_chal_tls_remove("new.example.com"), 0);
  assert_null(ctx_for(&f, "websecure", "new.example.com"));
  handshake(sctx, "new.example.com", ACME_ALPN, sizeof(ACME_ALPN) - 1, 0, &r);
  assert_false(r.cli_ok);
  done(&f);
}

static void test_hello_check(void **state) {
  (void)state;
  wh_client_hello ch;
  memset(&ch, 0, sizeof(ch));
  ch.nalpn = 2;
  strcpy(ch.alpn[0], "http/1.1");
  strcpy(ch.alpn[1], "acme-tls/1");
  assert_true(wh_tls_acme_offered(&ch));
  assert_false(wh_tls_acme_hello(&ch)); /* nothing pending */
  assert_int_equal(wh_acme_chal_tls_add("x.example.com", KEYAUTH), 0);
  assert_true(wh_tls_acme_hello(&ch));
  ch.nalpn = 1;
  assert_false(wh_tls_acme_hello(&ch));
  strcpy(ch.alpn[0], "acme-tls/11");
  assert_false(wh_tls_acme_offered(&ch));
}

int main(void) {
  wh_dynamic_register_middleware_types(wh_mw_registry, wh_mw_registry_len);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_http_add_get_remove, reset),
      cmocka_unit_test_setup(test_http_bad_input, reset),
      cmocka_unit_test_setup(test_http_token_from_path, reset),
      cmocka_unit_test_setup(test_http_bounded, reset),
      cmocka_unit_test_setup(test_http_internal_service, reset),
      cmocka_unit_test_setup(test_internal_router, reset),
      cmocka_unit_test_setup(test_tls_cert, reset),
      cmocka_unit_test_setup(test_tls_registry, reset),
      cmocka_unit_test_setup(test_tls_bounded, reset),
      cmocka_unit_test_setup(test_concurrent_readers, reset),
      cmocka_unit_test_setup(test_tls_alpn_answered, reset),
      cmocka_unit_test_setup(test_tls_alpn_refused_without_challenge, reset),
      cmocka_unit_test_setup(test_tls_normal_handshake_unaffected, reset),
      cmocka_unit_test_setup(test_tls_alpn_sni_strict, reset),
      cmocka_unit_test_setup(test_hello_check, reset),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  wh_acme_chal_clear();
  return rc;
}
