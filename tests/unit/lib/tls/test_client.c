/* wh_tls_client: TLS towards backends, driven through a real handshake in
 * memory against a server wh_tls_stream, the way the worker loop pumps bytes
 * between an upstream socket and its session. The PKI (a CA, a leaf it
 * signed with DNS, IP and URI SANs, a client certificate, an unrelated CA)
 * is made with tests/unit/support/pki.h and written to a mkdtemp
 * directory. */
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
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tests/unit/support/pki.h"
#include "tests/unit/support/tls_pump.h"

#include "lib/config/dynamic.h"
#include "lib/core/err.h"
#include "lib/tls/client.h"
#include "lib/tls/tls_stream.h"

/* ---- the PKI ---- */

static const char *LEAF_URI = "spiffe://example.org/backend";

static EVP_PKEY *g_ca_key, *g_other_key, *g_leaf_key, *g_cli_key;
static X509 *g_ca, *g_other_ca, *g_leaf, *g_leaf_nouri, *g_cli;
static pki_dir g_dir;
/* paths */
static const char *p_ca, *p_other_ca, *p_cli_crt, *p_cli_key, *p_other_key, *p_no_cert;
static char *g_ca_pem; /* inline */

static int setup(void **state) {
  (void)state;
  if (!pki_dir_make(&g_dir, "/tmp/wh_tls_client_test_XXXXXX"))
    return -1;
  g_ca_key = EVP_EC_gen("P-256");
  g_other_key = EVP_EC_gen("P-256");
  g_leaf_key = EVP_EC_gen("P-256");
  g_cli_key = EVP_EC_gen("P-256");
  if (!g_ca_key || !g_other_key || !g_leaf_key || !g_cli_key)
    return -1;
  g_ca = pki_ca("wharf test CA", g_ca_key);
  g_other_ca = pki_ca("unrelated CA", g_other_key);
  g_leaf = pki_leaf(
      "backend.example",
      "DNS:backend.example,DNS:*.svc.example,IP:127.0.0.1,URI:spiffe://example.org/backend",
      g_leaf_key, g_ca, g_ca_key);
  g_leaf_nouri = pki_leaf("backend.example", "DNS:backend.example", g_leaf_key, g_ca, g_ca_key);
  g_cli = pki_leaf("client.example", "DNS:client.example", g_cli_key, g_ca, g_ca_key);
  g_ca_pem = pki_cert_pem(g_ca);
  p_ca = pki_dir_write_cert(&g_dir, "ca.pem", g_ca);
  p_other_ca = pki_dir_write_cert(&g_dir, "other-ca.pem", g_other_ca);
  p_cli_crt = pki_dir_write_cert(&g_dir, "client.pem", g_cli);
  p_cli_key = pki_dir_write_key(&g_dir, "client.key", g_cli_key);
  p_other_key = pki_dir_write_key(&g_dir, "other.key", g_other_key);
  p_no_cert = pki_dir_write_key(&g_dir, "no-cert.pem", g_other_key); /* PEM, but no certificate */
  return 0;
}

static int teardown(void **state) {
  (void)state;
  pki_dir_remove(&g_dir);
  free(g_ca_pem);
  X509_free(g_ca);
  X509_free(g_other_ca);
  X509_free(g_leaf);
  X509_free(g_leaf_nouri);
  X509_free(g_cli);
  EVP_PKEY_free(g_ca_key);
  EVP_PKEY_free(g_other_key);
  EVP_PKEY_free(g_leaf_key);
  EVP_PKEY_free(g_cli_key);
  return 0;
}

/* A server context serving leaf (with its key); with client_ca, it requires
 * a client certificate signed by it. */
static SSL_CTX *server_ctx(X509 *leaf, X509 *client_ca) {
  SSL_CTX *s = SSL_CTX_new(TLS_server_method());
  assert_non_null(s);
  assert_int_equal(SSL_CTX_use_certificate(s, leaf), 1);
  assert_int_equal(SSL_CTX_use_PrivateKey(s, g_leaf_key), 1);
  static const unsigned char sid[] = "wh-test";
  assert_int_equal(SSL_CTX_set_session_id_context(s, sid, sizeof(sid) - 1), 1);
  if (client_ca) {
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(s), client_ca), 1);
    SSL_CTX_set_verify(s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
  }
  return s;
}

/* ---- client options ---- */

/* Options backed by storage of their own (wh_strlist and wh_list hold
 * non-const pointers; nothing here is freed through them). */
typedef struct opts {
  wh_tls_client_opts o;
  char *roots[2];
  wh_strlist root_list;
  wh_cert_files cf;
  wh_list certs;
} opts;

static void opts_init(opts *p) {
  memset(p, 0, sizeof(*p));
  p->o.name = "st@file";
  p->o.http = true;
}

static void opts_roots(opts *p, const char *a, const char *b) {
  p->roots[0] = (char *)a;
  p->roots[1] = (char *)b;
  p->root_list = (wh_strlist){p->roots, b ? 2 : 1};
  p->o.root_cas = &p->root_list;
}

static void opts_cert(opts *p, const char *crt, const char *key) {
  p->cf = (wh_cert_files){(char *)crt, (char *)key};
  p->certs = (wh_list){&p->cf, 1};
  p->o.certificates = &p->certs;
}

static wh_tls_client *client_ok(const opts *p) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_tls_client *tc = wh_tls_client_new(&p->o, &errs);
  if (!tc || errs.n)
    fail_msg("wh_tls_client_new: %s", errs.n ? errs.items[0] : "NULL without a message");
  wh_errlist_free(&errs);
  assert_int_equal(ERR_peek_error(), 0);
  return tc;
}

/* The single message of a failed wh_tls_client_new (caller frees). */
static char *client_err(const opts *p) {
  wh_errlist errs;
  wh_errlist_init(&errs);
  wh_tls_client *tc = wh_tls_client_new(&p->o, &errs);
  assert_null(tc);
  if (errs.n != 1) {
    for (size_t i = 0; i < errs.n; i++)
      print_message("error[%zu] = %s\n", i, errs.items[i]);
    fail_msg("%zu messages, want 1", errs.n);
  }
  char *msg = strdup(errs.items[0]);
  wh_errlist_free(&errs);
  assert_int_equal(ERR_peek_error(), 0);
  return msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!hay || !strstr(hay, needle))
    fail_msg("\"%s\" does not contain \"%s\"", hay ? hay : "(null)", needle);
}

/* ---- pumping (tests/unit/support/tls_pump.h) ---- */

typedef struct conn {
  tls_peer cli, srv;
} conn;

/* Starts a client of tc towards host against a server on sctx and pumps
 * until both are quiet. */
static void handshake(conn *c, const wh_tls_client *tc, const char *host, SSL_CTX *sctx,
                      wh_tls_session_cache *sc, const char *key) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(wh_tls_stream_init_server(&c->srv.s, sctx), 0);
  assert_int_equal(wh_tls_client_start(tc, host, sc, key, &c->cli.s), 0);
  tls_pump(&c->cli, &c->srv, 0);
}

static bool conn_ok(const conn *c) {
  return c->cli.s.established && !c->cli.s.failed && c->srv.s.established && !c->srv.s.failed;
}

/* The client's failure reason, into a static buffer. */
static const char *conn_failure(const conn *c) {
  static char why[512];
  assert_true(c->cli.s.failed);
  return wh_tls_client_failure(&c->cli.s, why, sizeof(why));
}

/* Application data both ways, proving the session is usable. */
static void exchange(conn *c) {
  assert_int_equal(wh_tls_stream_write(&c->cli.s, "ping", 4), 0);
  tls_pump(&c->cli, &c->srv, 0);
  assert_int_equal(wh_tls_stream_write(&c->srv.s, "pong", 4), 0);
  tls_pump(&c->cli, &c->srv, 0);
  assert_int_equal(c->srv.ngot, 4);
  assert_memory_equal(c->srv.got, "ping", 4);
  assert_int_equal(c->cli.ngot, 4);
  assert_memory_equal(c->cli.got, "pong", 4);
}

/* Closes the way wh_upstream_close does a connection it is done with: a
 * close_notify first (the cache holds copies, so a connection freed without
 * one does not spoil its session: see test_session_unclean_close). */
static void conn_free(conn *c) {
  wh_tls_stream_shutdown(&c->cli.s);
  tls_peer_free(&c->cli);
  tls_peer_free(&c->srv);
}

/* ---- verification ---- */

static void test_verified_with_root_cas_and_server_name(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  p.o.server_name = "backend.example";
  wh_tls_client *tc = client_ok(&p);
  assert_false(wh_tls_client_insecure(tc));
  assert_string_equal(wh_tls_client_name(tc), "st@file");
  conn c;
  /* serverName wins over the backend's host, for SNI and verification */
  handshake(&c, tc, "10.1.2.3", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  assert_string_equal(SSL_get_servername(c.srv.s.ssl, TLSEXT_NAMETYPE_host_name),
                      "backend.example");
  char why[256] = "";
  assert_true(wh_tls_client_check_peer(tc, &c.cli.s, why, sizeof(why))); /* no peerCertURI */
  exchange(&c);
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

static void test_backend_host_is_sni_and_verified_name(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, g_ca_pem, NULL); /* inline PEM */
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  assert_string_equal(SSL_get_servername(c.srv.s.ssl, TLSEXT_NAMETYPE_host_name),
                      "backend.example");
  conn_free(&c);
  /* a wildcard SAN covers one label */
  handshake(&c, tc, "api.svc.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  conn_free(&c);
  handshake(&c, tc, "a.b.svc.example", sctx, NULL, "k");
  assert_false(conn_ok(&c));
  assert_contains(conn_failure(&c), "certificate verify failed");
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

static void test_hostname_mismatch(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  p.o.server_name = "other.example";
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_false(c.cli.s.established);
  assert_true(c.cli.s.failed);
  assert_true(c.srv.s.failed); /* the client's alert reached it */
  const char *why = conn_failure(&c);
  assert_contains(why, "certificate verify failed");
  assert_contains(why, "hostname mismatch");
  assert_contains(why, "\"other.example\"");
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

static void test_ip_host_verified_against_ip_san_without_sni(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "127.0.0.1", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  assert_null(SSL_get_servername(c.srv.s.ssl, TLSEXT_NAMETYPE_host_name));
  conn_free(&c);
  /* another address is not covered, and the failure names it */
  handshake(&c, tc, "127.0.0.2", sctx, NULL, "k");
  assert_false(conn_ok(&c));
  assert_null(SSL_get_servername(c.srv.s.ssl, TLSEXT_NAMETYPE_host_name));
  const char *why = conn_failure(&c);
  assert_contains(why, "certificate verify failed");
  assert_contains(why, "127.0.0.2");
  conn_free(&c);
  /* IPv6 literal: no SNI either, and no IP SAN for it (OpenSSL spells the
   * address out in the message: "0:0:0:0:0:0:0:1") */
  handshake(&c, tc, "::1", sctx, NULL, "k");
  assert_false(conn_ok(&c));
  assert_null(SSL_get_servername(c.srv.s.ssl, TLSEXT_NAMETYPE_host_name));
  assert_contains(conn_failure(&c), "IP address mismatch");
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

static void test_untrusted_chain(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_other_ca, NULL);
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_false(conn_ok(&c));
  const char *why = conn_failure(&c);
  assert_contains(why, "certificate verify failed: ");
  assert_contains(why, "local issuer");
  conn_free(&c);
  wh_tls_client_free(tc);

  /* a self-signed backend certificate with no rootCAs: the system roots do
   * not trust it either */
  X509 *self = pki_leaf("backend.example", "DNS:backend.example", g_leaf_key, NULL, NULL);
  SSL_CTX *sself = server_ctx(self, NULL);
  opts_init(&p);
  tc = client_ok(&p);
  handshake(&c, tc, "backend.example", sself, NULL, "k");
  assert_false(conn_ok(&c));
  why = conn_failure(&c);
  assert_contains(why, "certificate verify failed: ");
  assert_contains(why, "self");
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sself);
  X509_free(self);
  SSL_CTX_free(sctx);
}

static void test_root_cas_bundle_and_partial_chain(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  /* one inline bundle holding the unrelated CA and ours */
  char *a = pki_cert_pem(g_other_ca), *b = pki_cert_pem(g_ca);
  char *bundle = pki_cat(a, b);
  opts p;
  opts_init(&p);
  opts_roots(&p, bundle, NULL);
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  conn_free(&c);
  wh_tls_client_free(tc);
  /* the same CA listed twice is fine */
  opts_roots(&p, p_ca, g_ca_pem);
  tc = client_ok(&p);
  wh_tls_client_free(tc);
  /* Go's RootCAs: a listed certificate is a trust anchor even if it is not a
   * CA's (here the leaf itself) */
  char *leaf = pki_cert_pem(g_leaf);
  opts_roots(&p, leaf, NULL);
  tc = client_ok(&p);
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  conn_free(&c);
  wh_tls_client_free(tc);
  free(leaf);
  free(a);
  free(b);
  free(bundle);
  SSL_CTX_free(sctx);
}

static void test_insecure_skip_verify(void **state) {
  (void)state;
  X509 *self = pki_leaf("whatever", "DNS:whatever.example", g_leaf_key, NULL, NULL);
  SSL_CTX *sctx = server_ctx(self, NULL);
  opts p;
  opts_init(&p);
  p.o.insecure_skip_verify = true;
  wh_tls_client *tc = client_ok(&p);
  assert_true(wh_tls_client_insecure(tc));
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k"); /* untrusted and misnamed */
  assert_true(conn_ok(&c));
  /* SNI is still sent */
  assert_string_equal(SSL_get_servername(c.srv.s.ssl, TLSEXT_NAMETYPE_host_name),
                      "backend.example");
  exchange(&c);
  conn_free(&c);
  wh_tls_client_free(tc);
  /* insecure with rootCAs that do not match: still no verification */
  opts_roots(&p, p_other_ca, NULL);
  tc = client_ok(&p);
  handshake(&c, tc, "127.0.0.9", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
  X509_free(self);
}

/* A backend offering h2 and http/1.1, h2 preferred. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl;
  (void)arg;
  static const unsigned char mine[] = "\x02h2\x08http/1.1";
  unsigned char *o = NULL;
  if (SSL_select_next_proto(&o, outlen, mine, sizeof(mine) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

static void test_alpn(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  SSL_CTX_set_alpn_select_cb(sctx, select_alpn, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  /* HTTP: only http/1.1 is offered, so an h2-preferring backend picks it */
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  const unsigned char *alpn = NULL;
  unsigned alen = 0;
  wh_tls_stream_alpn(&c.cli.s, &alpn, &alen);
  assert_int_equal(alen, 8);
  assert_memory_equal(alpn, "http/1.1", 8);
  conn_free(&c);
  wh_tls_client_free(tc);
  /* TCP: no ALPN at all */
  p.o.http = false;
  tc = client_ok(&p);
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  wh_tls_stream_alpn(&c.cli.s, &alpn, &alen);
  assert_int_equal(alen, 0);
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

/* ---- peerCertURI ---- */

/* Handshakes a client with peerCertURI uri (rootCAs: our CA) against leaf;
 * returns check_peer's answer and the reason in why. */
static bool peer_uri(X509 *leaf, const char *uri, bool insecure, char *why, size_t cap) {
  SSL_CTX *sctx = server_ctx(leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  p.o.peer_cert_uri = uri;
  p.o.insecure_skip_verify = insecure;
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  why[0] = '\0';
  bool ok = wh_tls_client_check_peer(tc, &c.cli.s, why, cap);
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
  return ok;
}

static void test_peer_cert_uri_match(void **state) {
  (void)state;
  char why[512];
  assert_true(peer_uri(g_leaf, LEAF_URI, false, why, sizeof(why)));
  /* Traefik replaces the host part by the peer's, and compares case-insensitively */
  assert_true(peer_uri(g_leaf, "spiffe://other-trust-domain.org/backend", false, why, sizeof(why)));
  assert_true(peer_uri(g_leaf, "SPIFFE://Example.ORG/Backend", false, why, sizeof(why)));
  assert_true(peer_uri(g_leaf, LEAF_URI, true, why, sizeof(why)));
}

static void test_peer_cert_uri_mismatch(void **state) {
  (void)state;
  char why[512];
  assert_false(peer_uri(g_leaf, "spiffe://example.org/frontend", false, why, sizeof(why)));
  assert_contains(why, "\"spiffe://example.org/backend\"");
  assert_contains(why, "\"spiffe://example.org/frontend\"");
  /* the path must match whole: neither a prefix nor an extension */
  assert_false(peer_uri(g_leaf, "spiffe://example.org/backend/x", false, why, sizeof(why)));
  assert_false(peer_uri(g_leaf, "spiffe://example.org/back", false, why, sizeof(why)));
  assert_false(peer_uri(g_leaf, "spiffe://example.org", false, why, sizeof(why)));
  /* another scheme */
  assert_false(peer_uri(g_leaf, "https://example.org/backend", false, why, sizeof(why)));
  assert_contains(why, "does not match");
}

static void test_peer_cert_uri_no_uri_san(void **state) {
  (void)state;
  char why[512];
  assert_false(peer_uri(g_leaf_nouri, LEAF_URI, false, why, sizeof(why)));
  assert_contains(why, "no URI SAN");
  assert_contains(why, LEAF_URI);
}

static void test_peer_cert_uri_still_verifies_chain_when_insecure(void **state) {
  (void)state;
  /* Traefik: insecureSkipVerify with peerCertURI still checks the chain */
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_other_ca, NULL);
  p.o.insecure_skip_verify = true;
  p.o.peer_cert_uri = LEAF_URI;
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "not-the-name.example", sctx, NULL, "k");
  assert_false(conn_ok(&c));
  assert_contains(conn_failure(&c), "certificate verify failed");
  conn_free(&c);
  wh_tls_client_free(tc);
  /* with the right roots the name is not checked (insecure), the URI is */
  opts_roots(&p, p_ca, NULL);
  tc = client_ok(&p);
  handshake(&c, tc, "not-the-name.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  char why[256];
  assert_true(wh_tls_client_check_peer(tc, &c.cli.s, why, sizeof(why)));
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

/* ---- client certificates ---- */

static void test_client_certificate_presented(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, g_ca);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  opts_cert(&p, p_cli_crt, p_cli_key);
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(conn_ok(&c));
  exchange(&c);
  X509 *seen = SSL_get0_peer_certificate(c.srv.s.ssl);
  assert_non_null(seen);
  assert_int_equal(X509_NAME_cmp(X509_get_subject_name(seen), X509_get_subject_name(g_cli)), 0);
  assert_int_equal(SSL_get_verify_result(c.srv.s.ssl), X509_V_OK);
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

static void test_client_certificate_missing_is_refused(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, g_ca);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  wh_tls_client *tc = client_ok(&p);
  conn c;
  handshake(&c, tc, "backend.example", sctx, NULL, "k");
  assert_true(c.srv.s.failed);
  assert_false(c.srv.s.established);
  /* TLS 1.3: the client finished first and learns it from the alert */
  assert_true(c.cli.s.failed);
  char why[256];
  const char *r = wh_tls_client_failure(&c.cli.s, why, sizeof(why));
  assert_contains(r, "certificate required");
  conn_free(&c);
  wh_tls_client_free(tc);
  SSL_CTX_free(sctx);
}

/* ---- session resumption ---- */

static void test_session_cache_resumes_per_key(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  p.o.peer_cert_uri = LEAF_URI;
  wh_tls_client *tc = client_ok(&p);
  wh_tls_session_cache *sc = wh_tls_session_cache_new();
  assert_non_null(sc);
  assert_int_equal(wh_tls_session_cache_count(sc), 0);
  assert_int_equal(wh_tls_session_cache_count(NULL), 0);

  conn c;
  handshake(&c, tc, "backend.example", sctx, sc, "t1@backend.example:443");
  assert_true(conn_ok(&c));
  assert_false(wh_tls_client_resumed(&c.cli.s));
  /* the tickets the server sent after the handshake were read by the pump */
  assert_int_equal(c.cli.last, WH_TLS_AGAIN);
  assert_int_equal(wh_tls_session_cache_count(sc), 1);
  conn_free(&c);

  /* same key: resumed, and the peer certificate still there for peerCertURI */
  handshake(&c, tc, "backend.example", sctx, sc, "t1@backend.example:443");
  assert_true(conn_ok(&c));
  assert_true(wh_tls_client_resumed(&c.cli.s));
  assert_true(SSL_session_reused(c.srv.s.ssl));
  char why[256] = "";
  if (!wh_tls_client_check_peer(tc, &c.cli.s, why, sizeof(why)))
    fail_msg("resumed session lost the peer certificate: %s", why);
  exchange(&c);
  conn_free(&c);
  assert_int_equal(wh_tls_session_cache_count(sc), 1);

  /* another key: a full handshake, then a second cached session */
  handshake(&c, tc, "backend.example", sctx, sc, "t1@other.example:443");
  assert_true(conn_ok(&c));
  assert_false(wh_tls_client_resumed(&c.cli.s));
  conn_free(&c);
  assert_int_equal(wh_tls_session_cache_count(sc), 2);

  /* no cache: never resumed */
  handshake(&c, tc, "backend.example", sctx, NULL, "t1@backend.example:443");
  assert_true(conn_ok(&c));
  assert_false(wh_tls_client_resumed(&c.cli.s));
  conn_free(&c);

  /* the cache outlives the client context that made its sessions */
  wh_tls_client_free(tc);
  wh_tls_session_cache_free(sc);
  wh_tls_session_cache_free(NULL);
  SSL_CTX_free(sctx);
}

/* Two connections at once share the cached session. OpenSSL marks a
 * connection's session unresumable when it is freed without close_notify (a
 * backend reset): the cache holds a copy, so the next connection still
 * resumes. */
static void test_session_unclean_close(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  wh_tls_client *tc = client_ok(&p);
  wh_tls_session_cache *sc = wh_tls_session_cache_new();
  const char *key = "t@backend.example:443";
  conn a, b, c;
  handshake(&a, tc, "backend.example", sctx, sc, key);
  assert_true(conn_ok(&a));
  assert_int_equal(wh_tls_session_cache_count(sc), 1);
  handshake(&b, tc, "backend.example", sctx, sc, key); /* a still open */
  assert_true(conn_ok(&b));
  assert_true(wh_tls_client_resumed(&b.cli.s));
  /* freed without close_notify */
  tls_peer_free(&a.cli);
  tls_peer_free(&a.srv);
  tls_peer_free(&b.cli);
  tls_peer_free(&b.srv);
  assert_int_equal(wh_tls_session_cache_count(sc), 1);
  memset(&c, 0, sizeof(c));
  assert_int_equal(wh_tls_stream_init_server(&c.srv.s, sctx), 0);
  assert_int_equal(wh_tls_client_start(tc, "backend.example", sc, key, &c.cli.s), 0);
  assert_int_equal(wh_tls_session_cache_count(sc), 1);
  tls_pump(&c.cli, &c.srv, 0);
  assert_true(conn_ok(&c));
  assert_true(wh_tls_client_resumed(&c.cli.s));
  assert_int_equal(wh_tls_session_cache_count(sc), 1);
  conn_free(&c);
  wh_tls_client_free(tc);
  wh_tls_session_cache_free(sc);
  SSL_CTX_free(sctx);
}

static void test_session_cache_many_keys_bounded(void **state) {
  (void)state;
  SSL_CTX *sctx = server_ctx(g_leaf, NULL);
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  wh_tls_client *tc = client_ok(&p);
  wh_tls_session_cache *sc = wh_tls_session_cache_new();
  static char keys[40][32];
  size_t prev = 0;
  for (int i = 0; i < 40; i++) {
    snprintf(keys[i], sizeof(keys[i]), "id@10.0.0.%d:443", i);
    conn c;
    handshake(&c, tc, "backend.example", sctx, sc, keys[i]);
    assert_true(conn_ok(&c));
    conn_free(&c);
    size_t n = wh_tls_session_cache_count(sc);
    assert_true(n >= 1 && n <= prev + 1); /* a collision replaces a slot */
    prev = n;
  }
  assert_true(prev > 1);
  wh_tls_client_free(tc);
  wh_tls_session_cache_free(sc);
  SSL_CTX_free(sctx);
}

/* ---- building errors ---- */

static void test_new_missing_root_cas_file(void **state) {
  (void)state;
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, "/nonexistent/wharf/ca.pem");
  char *msg = client_err(&p);
  assert_contains(msg, "rootCAs[1]");
  assert_contains(msg, "/nonexistent/wharf/ca.pem");
  free(msg);
}

static void test_new_root_cas_without_certificate(void **state) {
  (void)state;
  opts p;
  opts_init(&p);
  opts_roots(&p, p_no_cert, NULL);
  char *msg = client_err(&p);
  assert_contains(msg, "rootCAs[0]");
  assert_contains(msg, p_no_cert);
  assert_contains(msg, "no PEM certificate");
  free(msg);
  /* an empty value */
  opts_roots(&p, "", NULL);
  msg = client_err(&p);
  assert_contains(msg, "rootCAs[0]");
  free(msg);
}

static void test_new_key_not_matching_certificate(void **state) {
  (void)state;
  opts p;
  opts_init(&p);
  opts_roots(&p, p_ca, NULL);
  opts_cert(&p, p_cli_crt, p_other_key);
  char *msg = client_err(&p);
  assert_contains(msg, "match");
  free(msg);
  /* a missing key file */
  opts_cert(&p, p_cli_crt, "/nonexistent/wharf/client.key");
  msg = client_err(&p);
  assert_contains(msg, "/nonexistent/wharf/client.key");
  free(msg);
}

static void test_new_peer_cert_uri_without_scheme(void **state) {
  (void)state;
  const char *bad[] = {"example.org/backend", "://example.org/backend", "spi ffe://x/y"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    opts p;
    opts_init(&p);
    p.o.peer_cert_uri = bad[i];
    char *msg = client_err(&p);
    assert_contains(msg, "peerCertURI");
    assert_contains(msg, bad[i]);
    free(msg);
  }
}

static void test_new_every_problem_reported(void **state) {
  (void)state;
  opts p;
  opts_init(&p);
  opts_roots(&p, "/nonexistent/a.pem", NULL);
  opts_cert(&p, p_cli_crt, p_other_key);
  p.o.peer_cert_uri = "no-scheme";
  wh_errlist errs;
  wh_errlist_init(&errs);
  assert_null(wh_tls_client_new(&p.o, &errs));
  assert_int_equal(errs.n, 3);
  wh_errlist_free(&errs);
}

/* ---- the id ---- */

static char *id_of(const opts *p) {
  wh_tls_client *tc = client_ok(p);
  const char *id = wh_tls_client_id(tc);
  assert_int_equal(strlen(id), 16);
  assert_int_equal(strspn(id, "0123456789abcdef"), 16);
  char *s = strdup(id);
  wh_tls_client_free(tc);
  return s;
}

static void assert_ids_differ(const opts *a, const opts *b, const char *what) {
  char *x = id_of(a), *y = id_of(b);
  if (strcmp(x, y) == 0)
    fail_msg("%s: same id %s", what, x);
  free(x);
  free(y);
}

static void test_id(void **state) {
  (void)state;
  opts base;
  opts_init(&base);
  base.o.server_name = "backend.example";
  opts_roots(&base, p_ca, NULL);
  opts_cert(&base, p_cli_crt, p_cli_key);

  /* same options: same id, whatever the name and wherever the PEM comes from */
  opts same = base;
  opts_roots(&same, g_ca_pem, NULL);
  opts_cert(&same, p_cli_crt, p_cli_key);
  same.o.name = "other@docker";
  char *a = id_of(&base), *b = id_of(&same);
  assert_string_equal(a, b);
  free(a);
  free(b);

  opts o = base;
  opts_roots(&o, p_ca, NULL);
  opts_cert(&o, p_cli_crt, p_cli_key);
  o.o.server_name = "other.example";
  assert_ids_differ(&base, &o, "serverName");
  o.o.server_name = NULL;
  assert_ids_differ(&base, &o, "no serverName");

  o = base;
  opts_roots(&o, p_ca, NULL);
  opts_cert(&o, p_cli_crt, p_cli_key);
  o.o.insecure_skip_verify = true;
  assert_ids_differ(&base, &o, "insecureSkipVerify");

  o = base;
  opts_roots(&o, p_other_ca, NULL);
  opts_cert(&o, p_cli_crt, p_cli_key);
  assert_ids_differ(&base, &o, "rootCAs content");
  opts_roots(&o, p_ca, p_other_ca);
  assert_ids_differ(&base, &o, "rootCAs added");
  o.o.root_cas = NULL;
  assert_ids_differ(&base, &o, "system roots");

  o = base;
  opts_roots(&o, p_ca, NULL);
  o.o.certificates = NULL;
  assert_ids_differ(&base, &o, "no client certificate");
  X509 *cli2 = pki_leaf("client2.example", NULL, g_cli_key, g_ca, g_ca_key);
  char *cli2_pem = pki_cert_pem(cli2);
  char *cli_key_pem = pki_key_pem(g_cli_key);
  opts_cert(&o, cli2_pem, cli_key_pem);
  assert_ids_differ(&base, &o, "another client certificate");

  o = base;
  opts_roots(&o, p_ca, NULL);
  opts_cert(&o, p_cli_crt, p_cli_key);
  o.o.peer_cert_uri = LEAF_URI;
  assert_ids_differ(&base, &o, "peerCertURI");

  o = base;
  opts_roots(&o, p_ca, NULL);
  opts_cert(&o, p_cli_crt, p_cli_key);
  o.o.http = false;
  assert_ids_differ(&base, &o, "HTTP and TCP");

  free(cli2_pem);
  free(cli_key_pem);
  X509_free(cli2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_verified_with_root_cas_and_server_name),
      cmocka_unit_test(test_backend_host_is_sni_and_verified_name),
      cmocka_unit_test(test_hostname_mismatch),
      cmocka_unit_test(test_ip_host_verified_against_ip_san_without_sni),
      cmocka_unit_test(test_untrusted_chain),
      cmocka_unit_test(test_root_cas_bundle_and_partial_chain),
      cmocka_unit_test(test_insecure_skip_verify),
      cmocka_unit_test(test_alpn),
      cmocka_unit_test(test_peer_cert_uri_match),
      cmocka_unit_test(test_peer_cert_uri_mismatch),
      cmocka_unit_test(test_peer_cert_uri_no_uri_san),
      cmocka_unit_test(test_peer_cert_uri_still_verifies_chain_when_insecure),
      cmocka_unit_test(test_client_certificate_presented),
      cmocka_unit_test(test_client_certificate_missing_is_refused),
      cmocka_unit_test(test_session_cache_resumes_per_key),
      cmocka_unit_test(test_session_unclean_close),
      cmocka_unit_test(test_session_cache_many_keys_bounded),
      cmocka_unit_test(test_new_missing_root_cas_file),
      cmocka_unit_test(test_new_root_cas_without_certificate),
      cmocka_unit_test(test_new_key_not_matching_certificate),
      cmocka_unit_test(test_new_peer_cert_uri_without_scheme),
      cmocka_unit_test(test_new_every_problem_reported),
      cmocka_unit_test(test_id),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
