#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lib/tls/options.h"

/* A string list literal for the options model. */
#define SL(...)                                                                                    \
  ((wh_strlist){(char *[]){__VA_ARGS__}, sizeof((char *[]){__VA_ARGS__}) / sizeof(char *)})

/* ---- fixtures: a CA, certificates it signs, a rogue CA, files ---- */

static EVP_PKEY *ca_key, *srv_key, *cli_key, *rogue_key, *rogue_cli_key, *inter_key, *icli_key;
static X509 *ca_cert, *srv_cert, *cli_cert, *rogue_cert, *rogue_cli_cert, *inter_cert, *icli_cert;
static char *ca_pem; /* the CA as inline PEM */
static char tmpdir[64];
static char ca_path[128], garbage_path[128], inter_path[128];

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca) {
  static long serial = 1;
  X509 *x = X509_new();
  assert_non_null(x);
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
  X509_set_pubkey(x, key);
  X509V3_CTX v;
  X509V3_set_ctx_nodb(&v);
  X509V3_set_ctx(&v, issuer ? issuer : x, x, NULL, NULL, 0);
  X509_EXTENSION *e =
      X509V3_EXT_conf_nid(NULL, &v, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  assert_non_null(e);
  X509_add_ext(x, e, -1);
  X509_EXTENSION_free(e);
  if (ca) {
    e = X509V3_EXT_conf_nid(NULL, &v, NID_key_usage, "critical,keyCertSign,cRLSign");
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
  }
  assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return x;
}

/* A copy of n bytes that need not end in NUL (strndup would look for one:
 * ASan's strict_string_checks reads past n bytes of a BIO's buffer). */
static char *dup_bytes(const void *p, size_t n) {
  char *s = malloc(n + 1);
  assert_non_null(s);
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

static char *to_pem(X509 *x) {
  BIO *b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, x);
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  char *s = dup_bytes(data, (size_t)n);
  BIO_free(b);
  return s;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static int setup(void **state) {
  (void)state;
  ca_key = EVP_EC_gen("P-256");
  srv_key = EVP_EC_gen("P-256");
  cli_key = EVP_EC_gen("P-256");
  rogue_key = EVP_EC_gen("P-256");
  rogue_cli_key = EVP_EC_gen("P-256");
  inter_key = EVP_EC_gen("P-256");
  icli_key = EVP_EC_gen("P-256");
  ca_cert = make_cert("Test CA", ca_key, NULL, NULL, true);
  srv_cert = make_cert("server.example", srv_key, ca_cert, ca_key, false);
  cli_cert = make_cert("client", cli_key, ca_cert, ca_key, false);
  /* Same subject as the real CA: only the signature tells them apart. */
  rogue_cert = make_cert("Test CA", rogue_key, NULL, NULL, true);
  rogue_cli_cert = make_cert("client", rogue_cli_key, rogue_cert, rogue_key, false);
  inter_cert = make_cert("Intermediate CA", inter_key, ca_cert, ca_key, true);
  icli_cert = make_cert("client via intermediate", icli_key, inter_cert, inter_key, false);
  ca_pem = to_pem(ca_cert);
  strcpy(tmpdir, "/tmp/wh_test_options_XXXXXX");
  if (!mkdtemp(tmpdir))
    return -1;
  snprintf(ca_path, sizeof ca_path, "%s/ca.pem", tmpdir);
  snprintf(garbage_path, sizeof garbage_path, "%s/garbage.pem", tmpdir);
  snprintf(inter_path, sizeof inter_path, "%s/inter.pem", tmpdir);
  write_file(ca_path, ca_pem);
  write_file(garbage_path, "this is not a certificate\n");
  char *ipem = to_pem(inter_cert);
  write_file(inter_path, ipem);
  free(ipem);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  unlink(ca_path);
  unlink(garbage_path);
  unlink(inter_path);
  rmdir(tmpdir);
  free(ca_pem);
  X509 *certs[] = {ca_cert, srv_cert, cli_cert, rogue_cert, rogue_cli_cert, inter_cert, icli_cert};
  EVP_PKEY *keys[] = {ca_key, srv_key, cli_key, rogue_key, rogue_cli_key, inter_key, icli_key};
  for (size_t i = 0; i < sizeof certs / sizeof *certs; i++) {
    X509_free(certs[i]);
    EVP_PKEY_free(keys[i]);
  }
  return 0;
}

/* ---- helpers ---- */

/* Options as the decoder makes them: alpnProtocols carries its schema default. */
static wh_tls_options opts(void) {
  wh_tls_options o;
  memset(&o, 0, sizeof o);
  static char *alpn[] = {"h2", "http/1.1", "acme-tls/1"};
  o.alpn_protocols.v = alpn;
  o.alpn_protocols.n = 3;
  return o;
}

static wh_tls_policy *compile_ok(const wh_tls_options *o) {
  wh_errlist e;
  wh_errlist_init(&e);
  wh_tls_policy *p = wh_tls_policy_compile("ok", o, false, &e);
  if (!p)
    fail_msg("compile failed: %s", e.n ? e.items[0] : "(no message)");
  assert_int_equal(e.n, 0);
  wh_errlist_free(&e);
  return p;
}

/* Compiles expecting failure; every message must contain each of the needles
 * in at least one message. Returns the number of messages. */
static size_t expect_error(const wh_tls_options *o, const char *needle1, const char *needle2) {
  wh_errlist e;
  wh_errlist_init(&e);
  wh_errlist_add(&e, "earlier message");
  wh_tls_policy *p = wh_tls_policy_compile("x", o, false, &e);
  if (p) {
    wh_tls_policy_free(p);
    fail_msg("options compiled, expected an error containing \"%s\"", needle1);
  }
  assert_true(e.n >= 2);
  assert_string_equal(e.items[0], "earlier message"); /* appended, never replaced */
  bool f1 = false, f2 = needle2 == NULL;
  for (size_t i = 1; i < e.n; i++) {
    assert_true(strncmp(e.items[i], "tls option \"x\": ", 16) == 0);
    f1 = f1 || strstr(e.items[i], needle1);
    f2 = f2 || strstr(e.items[i], needle2);
  }
  if (!f1 || !f2)
    fail_msg("no message with \"%s\" / \"%s\"; first: %s", needle1, needle2 ? needle2 : "",
             e.items[1]);
  size_t n = e.n - 1;
  wh_errlist_free(&e);
  return n;
}

static SSL_CTX *server_ctx(const wh_tls_policy *p) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  assert_non_null(ctx);
  wh_errlist e;
  wh_errlist_init(&e);
  int rc = wh_tls_policy_apply(p, ctx, &e);
  if (rc != 0)
    fail_msg("apply failed: %s", e.n ? e.items[0] : "(no message)");
  wh_errlist_free(&e);
  assert_int_equal(SSL_CTX_use_certificate(ctx, srv_cert), 1);
  assert_int_equal(SSL_CTX_use_PrivateKey(ctx, srv_key), 1);
  return ctx;
}

static SSL_CTX *client_ctx(int minv, int maxv, X509 *cert, EVP_PKEY *key) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  assert_non_null(ctx);
  if (minv && minv < TLS1_2_VERSION) {
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  }
  SSL_CTX_set_min_proto_version(ctx, minv);
  SSL_CTX_set_max_proto_version(ctx, maxv);
  if (cert) {
    assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, key), 1);
  }
  return ctx;
}

typedef struct conn {
  SSL *c, *s;
  bool ok; /* both sides finished the handshake */
} conn;

/* A real handshake over an in-memory BIO pair. */
/* the next handshakes' server side is a TLS-terminating TCP router's */
static bool tcp_router_side;

static conn handshake(SSL_CTX *sctx, SSL_CTX *cctx, SSL_SESSION *resume) {
  conn k = {SSL_new(cctx), SSL_new(sctx), false};
  assert_non_null(k.c);
  assert_non_null(k.s);
  if (tcp_router_side)
    wh_tls_alpn_for_tcp(k.s);
  BIO *bc = NULL, *bs = NULL;
  assert_int_equal(BIO_new_bio_pair(&bc, 0, &bs, 0), 1);
  SSL_set_bio(k.c, bc, bc);
  SSL_set_bio(k.s, bs, bs);
  SSL_set_connect_state(k.c);
  SSL_set_accept_state(k.s);
  if (resume)
    assert_int_equal(SSL_set_session(k.c, resume), 1);
  bool cdone = false, sdone = false, failed = false;
  for (int i = 0; i < 64 && !(cdone && sdone) && !failed; i++) {
    SSL *side[2] = {k.c, k.s};
    bool *done[2] = {&cdone, &sdone};
    for (int j = 0; j < 2 && !failed; j++) {
      if (*done[j])
        continue;
      int r = SSL_do_handshake(side[j]);
      if (r == 1) {
        *done[j] = true;
        continue;
      }
      int err = SSL_get_error(side[j], r);
      if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE)
        failed = true;
    }
  }
  ERR_clear_error();
  k.ok = cdone && sdone && !failed;
  return k;
}

static void conn_free(conn *k) {
  /* A clean close: OpenSSL marks the session of an unclosed connection as
   * not resumable. */
  if (k->ok)
    SSL_set_shutdown(k->c, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_free(k->c);
  SSL_free(k->s);
}

/* Handshake outcome of a policy against a client limited to [minv, maxv]. */
static bool connects(const wh_tls_policy *p, int minv, int maxv, int *version) {
  SSL_CTX *s = server_ctx(p), *c = client_ctx(minv, maxv, NULL, NULL);
  conn k = handshake(s, c, NULL);
  if (version)
    *version = k.ok ? SSL_version(k.s) : 0;
  bool ok = k.ok;
  conn_free(&k);
  SSL_CTX_free(s);
  SSL_CTX_free(c);
  return ok;
}

/* ---- compile errors ---- */

static void test_unknown_min_version(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.min_version = "VersionTLS14";
  /* Equally close to all four: no guess. */
  assert_int_equal(expect_error(&o,
                                "tls option \"x\": unknown minVersion \"VersionTLS14\" "
                                "(VersionTLS10, VersionTLS11, VersionTLS12, VersionTLS13)",
                                NULL),
                   1);
  wh_errlist e;
  wh_errlist_init(&e);
  assert_null(wh_tls_policy_compile("x", &o, false, &e));
  assert_null(strstr(e.items[0], "did you mean"));
  wh_errlist_free(&e);
  o.min_version = "versiontls12"; /* Traefik's map is case-sensitive */
  expect_error(&o, "unknown minVersion \"versiontls12\"", "did you mean \"VersionTLS12\"?");
}

static void test_unknown_max_version(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.max_version = "TLS1.3";
  expect_error(&o, "unknown maxVersion \"TLS1.3\" (VersionTLS10", NULL);
}

static void test_max_below_min(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.min_version = "VersionTLS13";
  o.max_version = "VersionTLS12";
  expect_error(&o, "maxVersion VersionTLS12 is below minVersion VersionTLS13", NULL);
  o.min_version = NULL; /* the default minimum counts too */
  o.max_version = "VersionTLS11";
  expect_error(&o, "maxVersion VersionTLS11 is below minVersion VersionTLS12 (the default)", NULL);
}

static void test_unknown_cipher_suite(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.cipher_suites =
      SL("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265");
  expect_error(&o, "unknown cipher suite in cipherSuites \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA265\"",
               "did you mean \"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"?");
  o.cipher_suites = SL("ECDHE-RSA-AES128-GCM-SHA256"); /* OpenSSL spelling is not Traefik's */
  expect_error(&o, "unknown cipher suite in cipherSuites \"ECDHE-RSA-AES128-GCM-SHA256\"", NULL);
}

static void test_unknown_curve(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.curve_preferences = SL("X25519", "CurveP265");
  expect_error(&o, "unknown curve in curvePreferences \"CurveP265\" (CurveP256, secp256r1",
               "did you mean \"CurveP256\"?");
  o.curve_preferences = SL("X448"); /* valid in OpenSSL, not in Traefik */
  expect_error(&o, "unknown curve in curvePreferences \"X448\"", NULL);
}

static void test_unknown_client_auth_type(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.client_auth.client_auth_type = "RequireAndVerifyClientCerts";
  o.client_auth.ca_files = SL(ca_path);
  expect_error(&o, "unknown clientAuthType \"RequireAndVerifyClientCerts\" (NoClientCert,",
               "did you mean \"RequireAndVerifyClientCert\"?");
}

static void test_verifying_modes_need_ca_files(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.client_auth.client_auth_type = "RequireAndVerifyClientCert";
  expect_error(&o, "clientAuthType RequireAndVerifyClientCert requires clientAuth.caFiles", NULL);
  o.client_auth.client_auth_type = "VerifyClientCertIfGiven";
  expect_error(&o, "clientAuthType VerifyClientCertIfGiven requires clientAuth.caFiles", NULL);
}

static void test_ca_file_unreadable(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.client_auth.client_auth_type = "RequireAndVerifyClientCert";
  o.client_auth.ca_files = SL(ca_path, "/nonexistent/wharf-ca.pem");
  expect_error(&o, "caFiles[1] \"/nonexistent/wharf-ca.pem\": No such file or directory", NULL);
  o.client_auth.ca_files = SL(tmpdir);
  expect_error(&o, "caFiles[0]", "not a regular file");
  o.client_auth.ca_files = SL("");
  expect_error(&o, "caFiles[0] is empty", NULL);
}

static void test_ca_file_garbage(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.client_auth.client_auth_type = "RequireAndVerifyClientCert";
  o.client_auth.ca_files = SL(garbage_path);
  expect_error(&o, garbage_path, "no PEM certificate found");
  o.client_auth.ca_files = SL("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  expect_error(&o, "caFiles[0] (inline PEM): invalid PEM certificate", NULL);
  /* The key material of a PEM that is not a certificate never reaches the message. */
  o.client_auth.ca_files = SL("-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n");
  wh_errlist e;
  wh_errlist_init(&e);
  assert_null(wh_tls_policy_compile("x", &o, false, &e));
  assert_int_equal(e.n, 1);
  assert_non_null(strstr(e.items[0], "(inline PEM): no PEM certificate found"));
  assert_null(strstr(e.items[0], "c2VjcmV0"));
  wh_errlist_free(&e);
}

static void test_ca_garbage_with_no_client_cert_still_an_error(void **state) {
  (void)state;
  /* Traefik loads caFiles whatever the mode: a broken file is never ignored. */
  wh_tls_options o = opts();
  o.client_auth.client_auth_type = "NoClientCert";
  o.client_auth.ca_files = SL(garbage_path);
  expect_error(&o, "no PEM certificate found", NULL);
}

static void test_bad_alpn_entries(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.alpn_protocols = SL("http/1.1", "");
  expect_error(&o, "alpnProtocols[1] is empty", NULL);
  char longname[300];
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';
  o.alpn_protocols = SL(longname);
  expect_error(&o, "alpnProtocols[0] is longer than 255 bytes", NULL);
}

static void test_no_usable_cipher_below_tls13(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.max_version = "VersionTLS12";
  o.cipher_suites = SL("TLS_AES_128_GCM_SHA256");
  expect_error(&o, "none of the listed suites is usable with TLS 1.2 or below",
               "maxVersion VersionTLS12 excludes TLS 1.3");
  /* RC4 and 3DES are in Traefik's list but not in this OpenSSL build. */
  o.cipher_suites = SL("TLS_RSA_WITH_RC4_128_SHA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA");
  expect_error(&o, "(RC4 and 3DES suites are not available)", NULL);
}

static void test_all_errors_reported(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.min_version = "VersionTLS9";
  o.cipher_suites = SL("NOPE");
  o.curve_preferences = SL("P-256");
  o.client_auth.client_auth_type = "Always";
  size_t n = expect_error(&o, "minVersion", "clientAuthType");
  assert_int_equal(n, 4);
  assert_null(wh_tls_policy_compile("x", NULL, false, NULL)); /* no options at all */
}

/* ---- successful compilation ---- */

static void test_full_option_set(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.min_version = "VersionTLS12";
  o.max_version = "VersionTLS13";
  o.cipher_suites =
      SL("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
         "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", /* same suite */
         "TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_RC4_128_SHA", "TLS_FALLBACK_SCSV",
         "TLS_AES_256_GCM_SHA384");
  o.curve_preferences = SL("x25519", "secp256r1", "CurveP256", "CurveP384");
  o.client_auth.client_auth_type = "RequireAndVerifyClientCert";
  o.client_auth.ca_files = SL(ca_path, ca_pem);
  o.sni_strict = true;
  o.alpn_protocols = SL("h2", "http/1.1", "acme-tls/1", "http/1.1");
  o.disable_session_tickets = true;
  wh_tls_policy *p = wh_tls_policy_compile("mtls@file", &o, false, NULL);
  assert_non_null(p);
  assert_string_equal(p->name, "mtls@file");
  assert_int_equal(p->min_version, TLS1_2_VERSION);
  assert_int_equal(p->max_version, TLS1_3_VERSION);
  assert_string_equal(p->cipher_list,
                      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:AES128-SHA");
  assert_string_equal(p->ciphersuites, "TLS_AES_256_GCM_SHA384");
  assert_string_equal(p->groups, "X25519:P-256:P-384");
  assert_int_equal(p->client_auth, WH_CLIENT_AUTH_REQUIRE_AND_VERIFY);
  assert_non_null(p->ca_store);
  assert_int_equal(sk_X509_NAME_num(p->ca_names), 1); /* the same CA twice */
  assert_true(p->sni_strict);
  assert_false(p->session_tickets);
  assert_int_equal(p->alpn_len, 9);
  assert_memory_equal(p->alpn_wire, "\x08http/1.1", 9);
  wh_tls_policy_free(p);
  wh_tls_policy_free(NULL);
}

static void test_defaults(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.min_version = ""; /* empty is absent, as in Traefik */
  wh_tls_policy *p = compile_ok(&o);
  assert_int_equal(p->min_version, TLS1_2_VERSION);
  assert_int_equal(p->max_version, 0);
  assert_null(p->cipher_list);
  assert_null(p->ciphersuites);
  assert_null(p->groups);
  assert_int_equal(p->client_auth, WH_CLIENT_AUTH_NONE);
  assert_null(p->ca_store);
  assert_false(p->sni_strict);
  assert_true(p->session_tickets);
  assert_int_equal(p->alpn_len, 9);
  assert_memory_equal(p->alpn_wire, "\x08http/1.1", 9);

  wh_tls_policy *d = wh_tls_policy_default(false);
  assert_non_null(d);
  assert_string_equal(d->name, "default");
  assert_true(wh_tls_policy_same(p, d));
  wh_tls_policy *h2 = wh_tls_policy_default(true);
  assert_int_equal(h2->alpn_len, 12);
  assert_memory_equal(h2->alpn_wire, "\x02h2\x08http/1.1", 12);
  assert_false(wh_tls_policy_same(d, h2));
  wh_tls_policy_free(p);
  wh_tls_policy_free(d);
  wh_tls_policy_free(h2);
}

static void test_ca_files_alone_mean_require_and_verify(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.client_auth.ca_files = SL(ca_pem);
  wh_tls_policy *p = compile_ok(&o);
  assert_int_equal(p->client_auth, WH_CLIENT_AUTH_REQUIRE_AND_VERIFY);
  wh_tls_policy_free(p);
  const char *names[] = {"NoClientCert", "RequestClientCert", "RequireAnyClientCert",
                         "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"};
  for (int i = 0; i < 5; i++) {
    o.client_auth.client_auth_type = (char *)names[i];
    p = compile_ok(&o);
    assert_int_equal(p->client_auth, i); /* enum follows Traefik's order */
    wh_tls_policy_free(p);
  }
}

static void test_tls13_only_suites_raise_minimum(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.cipher_suites = SL("TLS_CHACHA20_POLY1305_SHA256");
  wh_tls_policy *p = compile_ok(&o);
  assert_int_equal(p->min_version, TLS1_3_VERSION);
  assert_null(p->cipher_list);
  assert_string_equal(p->ciphersuites, "TLS_CHACHA20_POLY1305_SHA256");
  int v = 0;
  assert_false(connects(p, TLS1_2_VERSION, TLS1_2_VERSION, NULL));
  assert_true(connects(p, 0, 0, &v));
  assert_int_equal(v, TLS1_3_VERSION);
  wh_tls_policy_free(p);
}

/* ---- handshakes ---- */

static void test_default_refuses_tls11(void **state) {
  (void)state;
  wh_tls_policy *p = wh_tls_policy_default(false);
  assert_false(connects(p, TLS1_1_VERSION, TLS1_1_VERSION, NULL));
  assert_false(connects(p, TLS1_VERSION, TLS1_VERSION, NULL));
  wh_tls_policy_free(p);
}

static void test_default_accepts_tls12_and_tls13(void **state) {
  (void)state;
  wh_tls_policy *p = wh_tls_policy_default(false);
  int v = 0;
  assert_true(connects(p, TLS1_2_VERSION, TLS1_2_VERSION, &v));
  assert_int_equal(v, TLS1_2_VERSION);
  assert_true(connects(p, 0, 0, &v));
  assert_int_equal(v, TLS1_3_VERSION);
  wh_tls_policy_free(p);
}

static void test_min_tls10_admits_tls11_client(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.min_version = "VersionTLS10";
  wh_tls_policy *p = compile_ok(&o);
  int v = 0;
  assert_true(connects(p, TLS1_1_VERSION, TLS1_1_VERSION, &v));
  assert_int_equal(v, TLS1_1_VERSION);
  wh_tls_policy_free(p);
}

static void test_max_tls12_caps(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.max_version = "VersionTLS12";
  wh_tls_policy *p = compile_ok(&o);
  int v = 0;
  assert_true(connects(p, 0, 0, &v));
  assert_int_equal(v, TLS1_2_VERSION);
  assert_false(connects(p, TLS1_3_VERSION, 0, NULL));
  wh_tls_policy_free(p);
}

static void test_min_tls13_refuses_tls12(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.min_version = "VersionTLS13";
  wh_tls_policy *p = compile_ok(&o);
  assert_false(connects(p, TLS1_2_VERSION, TLS1_2_VERSION, NULL));
  assert_true(connects(p, TLS1_3_VERSION, 0, NULL));
  wh_tls_policy_free(p);
}

static const char *negotiated_cipher(const wh_tls_policy *p, const char *client_list, bool *ok) {
  SSL_CTX *s = server_ctx(p), *c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
  assert_int_equal(SSL_CTX_set_cipher_list(c, client_list), 1);
  conn k = handshake(s, c, NULL);
  *ok = k.ok;
  const char *name = k.ok ? SSL_CIPHER_get_name(SSL_get_current_cipher(k.s)) : NULL;
  conn_free(&k);
  SSL_CTX_free(s);
  SSL_CTX_free(c);
  return name; /* static storage in OpenSSL's table */
}

static void test_cipher_restriction(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.cipher_suites =
      SL("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
  wh_tls_policy *p = compile_ok(&o);
  bool ok = false;
  /* The server's order wins over the client's. */
  const char *name =
      negotiated_cipher(p, "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384", &ok);
  assert_true(ok);
  assert_string_equal(name, "ECDHE-ECDSA-AES256-GCM-SHA384");
  /* A suite outside the list is never negotiated. */
  negotiated_cipher(p, "ECDHE-ECDSA-CHACHA20-POLY1305", &ok);
  assert_false(ok);
  wh_tls_policy_free(p);
  /* The default set (Go's) has no CBC-SHA256 nor RSA key exchange. */
  p = wh_tls_policy_default(false);
  negotiated_cipher(p, "ECDHE-ECDSA-AES128-SHA256", &ok);
  assert_false(ok);
  name = negotiated_cipher(p, "ECDHE-ECDSA-CHACHA20-POLY1305", &ok);
  assert_true(ok);
  wh_tls_policy_free(p);
}

static void test_tls13_suite_restriction(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.cipher_suites = SL("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384");
  wh_tls_policy *p = compile_ok(&o);
  SSL_CTX *s = server_ctx(p), *c = client_ctx(TLS1_3_VERSION, 0, NULL, NULL);
  SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
  conn k = handshake(s, c, NULL);
  assert_true(k.ok);
  assert_string_equal(SSL_CIPHER_get_name(SSL_get_current_cipher(k.s)), "TLS_AES_256_GCM_SHA384");
  conn_free(&k);
  SSL_CTX_set_ciphersuites(c, "TLS_AES_128_GCM_SHA256");
  k = handshake(s, c, NULL);
  assert_false(k.ok);
  conn_free(&k);
  SSL_CTX_free(s);
  SSL_CTX_free(c);
  wh_tls_policy_free(p);
}

/* The protocol the server selected for a client offering wire (NULL: no ALPN
 * extension), or "" when none; NULL when the handshake failed. */
static char *alpn_result(const wh_tls_policy *p, const unsigned char *wire, unsigned len) {
  SSL_CTX *s = server_ctx(p), *c = client_ctx(0, 0, NULL, NULL);
  if (wire)
    assert_int_equal(SSL_CTX_set_alpn_protos(c, wire, len), 0);
  conn k = handshake(s, c, NULL);
  char *res = NULL;
  if (k.ok) {
    const unsigned char *sel = NULL;
    unsigned sl = 0;
    SSL_get0_alpn_selected(k.c, &sel, &sl);
    res = dup_bytes(sel ? (const char *)sel : "", sl);
  }
  conn_free(&k);
  SSL_CTX_free(s);
  SSL_CTX_free(c);
  return res;
}

static void test_alpn_http11_without_h2(void **state) {
  (void)state;
  wh_tls_policy *p = wh_tls_policy_default(false);
  char *r = alpn_result(p, (const unsigned char *)"\x02h2\x08http/1.1", 12);
  assert_non_null(r);
  assert_string_equal(r, "http/1.1");
  free(r);
  r = alpn_result(p, NULL, 0); /* no ALPN at all: fine, none selected */
  assert_non_null(r);
  assert_string_equal(r, "");
  free(r);
  /* Only protocols the server does not speak: refused, as Go does. */
  r = alpn_result(p, (const unsigned char *)"\x02h2", 3);
  assert_null(r);
  r = alpn_result(p,
                  (const unsigned char *)"\x0a"
                                         "acme-tls/1",
                  11);
  assert_null(r);
  wh_tls_policy_free(p);
}

static void test_alpn_tcp_router_never_acme(void **state) {
  (void)state;
  wh_tls_policy *p = wh_tls_policy_default(false);
  tcp_router_side = true;
  /* the backend's protocol: the client's first choice ... */
  char *r = alpn_result(p, (const unsigned char *)"\x04imap\x04xmpp", 10);
  assert_non_null(r);
  assert_string_equal(r, "imap");
  free(r);
  /* ... but never acme-tls/1, which only a pending TLS-ALPN-01 challenge answers */
  r = alpn_result(p,
                  (const unsigned char *)"\x0a"
                                         "acme-tls/1\x04imap",
                  16);
  assert_non_null(r);
  assert_string_equal(r, "imap");
  free(r);
  r = alpn_result(p,
                  (const unsigned char *)"\x0a"
                                         "acme-tls/1",
                  11);
  assert_null(r);
  tcp_router_side = false;
  wh_tls_policy_free(p);
}

static void test_alpn_with_h2(void **state) {
  (void)state;
  wh_tls_policy *p = wh_tls_policy_default(true);
  char *r = alpn_result(p, (const unsigned char *)"\x08http/1.1\x02h2", 12);
  assert_string_equal(r, "h2"); /* server preference */
  free(r);
  /* An http/1.1-only client of an h2 server carries on (Go's special case). */
  wh_tls_options o = opts();
  o.alpn_protocols = SL("h2");
  wh_tls_policy *q = wh_tls_policy_compile("h2only", &o, true, NULL);
  assert_non_null(q);
  r = alpn_result(q, (const unsigned char *)"\x08http/1.1", 9);
  assert_non_null(r);
  assert_string_equal(r, "");
  free(r);
  wh_tls_policy_free(q);
  wh_tls_policy_free(p);
}

static void test_ctx_outlives_policy(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.client_auth.ca_files = SL(ca_path);
  wh_tls_policy *p = compile_ok(&o);
  SSL_CTX *s = server_ctx(p);
  wh_tls_policy_free(p); /* a connection may outlive its snapshot */
  SSL_CTX *c = client_ctx(0, 0, cli_cert, cli_key);
  SSL_CTX_set_alpn_protos(c, (const unsigned char *)"\x02h2\x08http/1.1", 12);
  conn k = handshake(s, c, NULL);
  assert_true(k.ok);
  const unsigned char *sel = NULL;
  unsigned sl = 0;
  SSL_get0_alpn_selected(k.s, &sel, &sl);
  assert_int_equal(sl, 8);
  assert_memory_equal(sel, "http/1.1", 8);
  conn_free(&k);
  SSL_CTX_free(s);
  SSL_CTX_free(c);
}

/* Client auth: for each mode, the outcome with no certificate, an untrusted
 * one (same subject as the CA's client, signed by a rogue CA) and a trusted
 * one, over TLS 1.2 and TLS 1.3. */
static void check_auth(const char *type, bool no_cert, bool untrusted, bool trusted) {
  wh_tls_options o = opts();
  o.client_auth.client_auth_type = (char *)type;
  wh_strlist cas = SL(ca_path);
  if (strcmp(type, "NoClientCert") != 0)
    o.client_auth.ca_files = cas;
  wh_tls_policy *p = compile_ok(&o);
  SSL_CTX *s = server_ctx(p);
  int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};
  X509 *certs[] = {NULL, rogue_cli_cert, cli_cert};
  EVP_PKEY *keys[] = {NULL, rogue_cli_key, cli_key};
  bool want[] = {no_cert, untrusted, trusted};
  for (int v = 0; v < 2; v++) {
    for (int i = 0; i < 3; i++) {
      SSL_CTX *c = client_ctx(versions[v], versions[v], certs[i], keys[i]);
      conn k = handshake(s, c, NULL);
      if (k.ok != want[i])
        fail_msg("%s, TLS 1.%d, %s client certificate: %s", type, v + 2,
                 i == 0   ? "no"
                 : i == 1 ? "untrusted"
                          : "trusted",
                 k.ok ? "accepted" : "refused");
      if (k.ok) {
        /* The certificate reaches the application only when requested. */
        X509 *peer = SSL_get0_peer_certificate(k.s);
        bool requested = strcmp(type, "NoClientCert") != 0;
        assert_true((peer != NULL) == (requested && certs[i] != NULL));
        if (peer && strstr(type, "Verify"))
          assert_int_equal(SSL_get_verify_result(k.s), X509_V_OK);
      }
      conn_free(&k);
      SSL_CTX_free(c);
    }
  }
  SSL_CTX_free(s);
  wh_tls_policy_free(p);
}

static void test_auth_no_client_cert(void **state) {
  (void)state;
  check_auth("NoClientCert", true, true, true);
}

static void test_auth_request_client_cert(void **state) {
  (void)state;
  check_auth("RequestClientCert", true, true, true);
}

static void test_auth_require_any_client_cert(void **state) {
  (void)state;
  check_auth("RequireAnyClientCert", false, true, true);
}

static void test_auth_verify_client_cert_if_given(void **state) {
  (void)state;
  check_auth("VerifyClientCertIfGiven", true, false, true);
}

static void test_auth_require_and_verify_client_cert(void **state) {
  (void)state;
  check_auth("RequireAndVerifyClientCert", false, false, true);
}

static void test_ca_names_sent(void **state) {
  (void)state;
  wh_tls_options o = opts();
  o.client_auth.ca_files = SL(ca_pem);
  wh_tls_policy *p = compile_ok(&o);
  SSL_CTX *s = server_ctx(p), *c = client_ctx(0, 0, cli_cert, cli_key);
  conn k = handshake(s, c, NULL);
  assert_true(k.ok);
  STACK_OF(X509_NAME) *names = SSL_get_client_CA_list(k.c);
  assert_int_equal(sk_X509_NAME_num(names), 1);
  assert_int_equal(X509_NAME_cmp(sk_X509_NAME_value(names, 0), X509_get_subject_name(ca_cert)), 0);
  conn_free(&k);
  SSL_CTX_free(s);
  SSL_CTX_free(c);
  wh_tls_policy_free(p);
}

static void test_intermediate_ca_is_an_anchor(void **state) {
  (void)state;
  /* Go's ClientCAs pool trusts every certificate in it, intermediates included. */
  wh_tls_options o = opts();
  o.client_auth.ca_files = SL(inter_path);
  wh_tls_policy *p = compile_ok(&o);
  SSL_CTX *s = server_ctx(p);
  SSL_CTX *c = client_ctx(0, 0, icli_cert, icli_key);
  conn k = handshake(s, c, NULL);
  assert_true(k.ok);
  conn_free(&k);
  SSL_CTX_free(c);
  c = client_ctx(0, 0, cli_cert, cli_key); /* signed by the root, not listed */
  k = handshake(s, c, NULL);
  assert_false(k.ok);
  conn_free(&k);
  SSL_CTX_free(c);
  SSL_CTX_free(s);
  wh_tls_policy_free(p);
}

static int new_sessions;
static int count_session(SSL *ssl, SSL_SESSION *sess) {
  (void)ssl, (void)sess;
  new_sessions++;
  return 0; /* not kept */
}

/* Tickets seen by a client: TLS 1.2 carries them in the handshake, TLS 1.3
 * after it (read them by reading from the connection). */
static int tickets_issued(const wh_tls_policy *p, int version) {
  SSL_CTX *s = server_ctx(p), *c = client_ctx(version, version, NULL, NULL);
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
  SSL_CTX_sess_set_new_cb(c, count_session);
  new_sessions = 0;
  conn k = handshake(s, c, NULL);
  assert_true(k.ok);
  char b;
  assert_true(SSL_read(k.c, &b, 1) <= 0); /* processes NewSessionTicket messages */
  int n = version == TLS1_3_VERSION                       ? new_sessions
          : SSL_SESSION_has_ticket(SSL_get0_session(k.c)) ? 1
                                                          : 0;
  ERR_clear_error();
  conn_free(&k);
  SSL_CTX_free(s);
  SSL_CTX_free(c);
  return n;
}

static void test_session_tickets(void **state) {
  (void)state;
  wh_tls_options o = opts();
  wh_tls_policy *on = compile_ok(&o);
  o.disable_session_tickets = true;
  wh_tls_policy *off = compile_ok(&o);
  assert_true(tickets_issued(on, TLS1_2_VERSION) > 0);
  assert_true(tickets_issued(on, TLS1_3_VERSION) > 0);
  assert_int_equal(tickets_issued(off, TLS1_2_VERSION), 0);
  assert_int_equal(tickets_issued(off, TLS1_3_VERSION), 0);
  wh_tls_policy_free(on);
  wh_tls_policy_free(off);
}

static void test_resumption_with_client_auth(void **state) {
  (void)state;
  /* Resuming under client verification needs a session id context. */
  wh_tls_options o = opts();
  o.client_auth.ca_files = SL(ca_path);
  wh_tls_policy *p = compile_ok(&o);
  SSL_CTX *s = server_ctx(p), *c = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, cli_cert, cli_key);
  conn k = handshake(s, c, NULL);
  assert_true(k.ok);
  SSL_SESSION *sess = SSL_get1_session(k.c);
  conn_free(&k);
  k = handshake(s, c, sess);
  assert_true(k.ok);
  assert_true(SSL_session_reused(k.s));
  conn_free(&k);
  /* A session from one policy never resumes under another. */
  wh_tls_options o2 = opts();
  o2.client_auth.ca_files = SL(ca_path);
  o2.sni_strict = true;
  wh_tls_policy *p2 = compile_ok(&o2);
  SSL_CTX *s2 = server_ctx(p2);
  unsigned char keys[80];
  assert_true(SSL_CTX_get_tlsext_ticket_keys(s, keys, sizeof keys) > 0);
  assert_true(SSL_CTX_set_tlsext_ticket_keys(s2, keys, sizeof keys) > 0); /* shared keys */
  k = handshake(s2, c, sess);
  assert_true(k.ok);
  assert_false(SSL_session_reused(k.s));
  conn_free(&k);
  SSL_SESSION_free(sess);
  SSL_CTX_free(s);
  SSL_CTX_free(s2);
  SSL_CTX_free(c);
  wh_tls_policy_free(p);
  wh_tls_policy_free(p2);
}

static void test_apply_bad_arguments(void **state) {
  (void)state;
  wh_errlist e;
  wh_errlist_init(&e);
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  assert_true(wh_tls_policy_apply(NULL, ctx, &e) < 0);
  assert_int_equal(e.n, 1);
  /* A verifying policy whose CA store went missing fails closed. */
  wh_tls_options o = opts();
  o.client_auth.ca_files = SL(ca_path);
  wh_tls_policy *p = compile_ok(&o);
  X509_STORE *store = p->ca_store;
  p->ca_store = NULL;
  assert_true(wh_tls_policy_apply(p, ctx, &e) < 0);
  assert_int_equal(e.n, 2);
  assert_non_null(strstr(e.items[1], "verification without CAs"));
  p->ca_store = store;
  wh_tls_policy_free(p);
  SSL_CTX_free(ctx);
  wh_errlist_free(&e);
}

static void test_policy_same(void **state) {
  (void)state;
  wh_tls_options base = opts();
  base.client_auth.ca_files = SL(ca_path);
  wh_tls_policy *a = wh_tls_policy_compile("a@file", &base, false, NULL);
  wh_tls_options inl = base;
  inl.client_auth.ca_files = SL(ca_pem, ca_path); /* same CA, spelled differently */
  wh_tls_policy *b = wh_tls_policy_compile("b@docker", &inl, false, NULL);
  assert_non_null(a);
  assert_non_null(b);
  assert_true(wh_tls_policy_same(a, b));
  assert_true(wh_tls_policy_same(a, a));
  assert_false(wh_tls_policy_same(a, NULL));
  assert_false(wh_tls_policy_same(NULL, a));
  assert_true(wh_tls_policy_same(NULL, NULL));

  wh_tls_options v[8];
  for (int i = 0; i < 8; i++)
    v[i] = base;
  v[0].min_version = "VersionTLS13";
  v[1].cipher_suites = SL("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
  v[2].curve_preferences = SL("X25519");
  v[3].client_auth.client_auth_type = "VerifyClientCertIfGiven";
  v[4].client_auth.ca_files = SL(inter_path);
  v[5].sni_strict = true;
  v[6].alpn_protocols = SL("http/1.1", "foo");
  v[7].disable_session_tickets = true;
  for (int i = 0; i < 8; i++) {
    wh_tls_policy *c = wh_tls_policy_compile("c", &v[i], false, NULL);
    assert_non_null(c);
    if (wh_tls_policy_same(a, c))
      fail_msg("variant %d compares the same", i);
    wh_tls_policy_free(c);
  }
  /* Explicit values equal to the defaults change nothing. */
  wh_tls_options dflt = base;
  dflt.min_version = "VersionTLS12";
  dflt.client_auth.client_auth_type = "RequireAndVerifyClientCert";
  wh_tls_policy *c = wh_tls_policy_compile("c", &dflt, false, NULL);
  assert_true(wh_tls_policy_same(a, c));
  wh_tls_policy_free(c);
  wh_tls_policy_free(a);
  wh_tls_policy_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unknown_min_version),
      cmocka_unit_test(test_unknown_max_version),
      cmocka_unit_test(test_max_below_min),
      cmocka_unit_test(test_unknown_cipher_suite),
      cmocka_unit_test(test_unknown_curve),
      cmocka_unit_test(test_unknown_client_auth_type),
      cmocka_unit_test(test_verifying_modes_need_ca_files),
      cmocka_unit_test(test_ca_file_unreadable),
      cmocka_unit_test(test_ca_file_garbage),
      cmocka_unit_test(test_ca_garbage_with_no_client_cert_still_an_error),
      cmocka_unit_test(test_bad_alpn_entries),
      cmocka_unit_test(test_no_usable_cipher_below_tls13),
      cmocka_unit_test(test_all_errors_reported),
      cmocka_unit_test(test_full_option_set),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_ca_files_alone_mean_require_and_verify),
      cmocka_unit_test(test_tls13_only_suites_raise_minimum),
      cmocka_unit_test(test_default_refuses_tls11),
      cmocka_unit_test(test_default_accepts_tls12_and_tls13),
      cmocka_unit_test(test_min_tls10_admits_tls11_client),
      cmocka_unit_test(test_max_tls12_caps),
      cmocka_unit_test(test_min_tls13_refuses_tls12),
      cmocka_unit_test(test_cipher_restriction),
      cmocka_unit_test(test_tls13_suite_restriction),
      cmocka_unit_test(test_alpn_http11_without_h2),
      cmocka_unit_test(test_alpn_with_h2),
      cmocka_unit_test(test_alpn_tcp_router_never_acme),
      cmocka_unit_test(test_ctx_outlives_policy),
      cmocka_unit_test(test_auth_no_client_cert),
      cmocka_unit_test(test_auth_request_client_cert),
      cmocka_unit_test(test_auth_require_any_client_cert),
      cmocka_unit_test(test_auth_verify_client_cert_if_given),
      cmocka_unit_test(test_auth_require_and_verify_client_cert),
      cmocka_unit_test(test_ca_names_sent),
      cmocka_unit_test(test_intermediate_ca_is_an_anchor),
      cmocka_unit_test(test_session_tickets),
      cmocka_unit_test(test_resumption_with_client_auth),
      cmocka_unit_test(test_apply_bad_arguments),
      cmocka_unit_test(test_policy_same),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
