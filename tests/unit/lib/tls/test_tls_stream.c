/* wh_tls_stream: a server and a client session pumped against each other in
 * memory, the way the worker loop moves bytes between socket and session. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tests/unit/support/tls_pump.h"

#include "lib/tls/certificate.h"
#include "lib/tls/tls_stream.h"

/* ---- fixtures ---- */

static wh_cert *g_cert;
static SSL_CTX *g_srv; /* serves g_cert, ALPN: http/1.1 only */

static const unsigned char SRV_ALPN[] = "\x08http/1.1";

static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg) {
  (void)ssl;
  (void)arg;
  unsigned char *o = NULL;
  if (SSL_select_next_proto(&o, outlen, SRV_ALPN, sizeof(SRV_ALPN) - 1, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;
  *out = o;
  return SSL_TLSEXT_ERR_OK;
}

/* A client context that trusts g_cert (verification on), or trusts nothing
 * when trusting is false. */
static SSL_CTX *client_ctx(bool trusting) {
  SSL_CTX *c = SSL_CTX_new(TLS_client_method());
  assert_non_null(c);
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
  if (trusting)
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(c), g_cert->x509), 1);
  return c;
}

static int setup(void **state) {
  (void)state;
  const char *sans[] = {"localhost", "example.com"};
  g_cert = wh_cert_self_signed("localhost", sans, 2);
  if (!g_cert)
    return -1;
  g_srv = SSL_CTX_new(TLS_server_method());
  if (!g_srv || wh_cert_install(g_cert, g_srv) != 0)
    return -1;
  SSL_CTX_set_alpn_select_cb(g_srv, select_alpn, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  SSL_CTX_free(g_srv);
  wh_cert_unref(g_cert);
  return 0;
}

/* One end, pumping: tests/unit/support/tls_pump.h */

typedef struct pair {
  tls_peer cli, srv;
  SSL_CTX *cctx;
} pair;

static void pair_init(pair *p, const char *sni) {
  memset(p, 0, sizeof(*p));
  p->cctx = client_ctx(true);
  assert_int_equal(wh_tls_stream_init_server(&p->srv.s, g_srv), 0);
  assert_int_equal(wh_tls_stream_init_client(&p->cli.s, p->cctx, sni), 0);
}

static void pair_free(pair *p) {
  tls_peer_free(&p->cli);
  tls_peer_free(&p->srv);
  SSL_CTX_free(p->cctx);
}

static void handshake(pair *p) {
  tls_pump(&p->cli, &p->srv, 0);
  assert_true(p->cli.s.established);
  assert_true(p->srv.s.established);
}

static void fill_pattern(char *buf, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; i++)
    buf[i] = (char)((i * 31u + seed + i / 251u) & 0xff);
}

/* ---- tests ---- */

static void test_handshake_completes(void **state) {
  (void)state;
  pair p;
  pair_init(&p, "localhost");
  assert_false(p.cli.s.established);
  assert_false(p.srv.s.established);
  handshake(&p);
  assert_int_equal(p.cli.last, WH_TLS_AGAIN);
  assert_int_equal(p.srv.last, WH_TLS_AGAIN);
  assert_false(p.cli.s.failed);
  assert_false(p.srv.s.failed);
  /* the client checked the certificate the server sent, against g_cert */
  assert_int_equal(SSL_get_verify_result(p.cli.s.ssl), X509_V_OK);
  X509 *peer_cert = SSL_get1_peer_certificate(p.cli.s.ssl);
  assert_non_null(peer_cert);
  assert_int_equal(X509_cmp(peer_cert, g_cert->x509), 0);
  X509_free(peer_cert);
  assert_int_equal(p.cli.ngot, 0);
  assert_int_equal(p.srv.ngot, 0);
  pair_free(&p);
}

static void test_first_output_is_client_hello(void **state) {
  (void)state;
  pair p;
  pair_init(&p, NULL);
  const char *d = NULL;
  assert_int_equal(wh_tls_stream_output(&p.cli.s, &d), 0); /* nothing before the first read */
  assert_int_equal(wh_tls_stream_read(&p.cli.s, (char[16]){0}, 16), WH_TLS_AGAIN);
  size_t n = wh_tls_stream_output(&p.cli.s, &d);
  assert_true(n > 5);
  assert_int_equal((unsigned char)d[0], 0x16); /* handshake record */
  assert_int_equal((unsigned char)d[5], 0x01); /* ClientHello */
  wh_tls_stream_consumed(&p.cli.s);
  assert_int_equal(wh_tls_stream_output(&p.cli.s, &d), 0);
  /* consumed bytes are gone: the server never sees a ClientHello */
  assert_int_equal(wh_tls_stream_read(&p.srv.s, (char[16]){0}, 16), WH_TLS_AGAIN);
  assert_int_equal(wh_tls_stream_output(&p.srv.s, &d), 0);
  pair_free(&p);
}

static void test_data_both_ways(void **state) {
  (void)state;
  pair p;
  pair_init(&p, "localhost");
  handshake(&p);
  assert_int_equal(wh_tls_stream_write(&p.cli.s, "GET / HTTP/1.1\r\n\r\n", 18), 0);
  tls_pump(&p.cli, &p.srv, 0);
  assert_int_equal(p.srv.ngot, 18);
  assert_memory_equal(p.srv.got, "GET / HTTP/1.1\r\n\r\n", 18);
  assert_int_equal(wh_tls_stream_write(&p.srv.s, "HTTP/1.1 200 OK\r\n", 17), 0);
  assert_int_equal(wh_tls_stream_write(&p.srv.s, "\r\n", 2), 0);
  tls_pump(&p.cli, &p.srv, 0);
  assert_int_equal(p.cli.ngot, 19);
  assert_memory_equal(p.cli.got, "HTTP/1.1 200 OK\r\n\r\n", 19);
  /* a zero-length write is a no-op, not an error */
  assert_int_equal(wh_tls_stream_write(&p.cli.s, "", 0), 0);
  pair_free(&p);
}

static void test_100k_both_ways(void **state) {
  (void)state;
  enum { N = 100 * 1024 };
  char *up = malloc(N), *down = malloc(N);
  assert_non_null(up);
  assert_non_null(down);
  fill_pattern(up, N, 7);
  fill_pattern(down, N, 99);
  pair p;
  pair_init(&p, "localhost");
  handshake(&p);
  /* one call takes all of it: several records, nothing left behind */
  assert_int_equal(wh_tls_stream_write(&p.cli.s, up, N), 0);
  assert_int_equal(wh_tls_stream_write(&p.srv.s, down, N), 0);
  const char *d = NULL;
  assert_true(wh_tls_stream_output(&p.cli.s, &d) > (size_t)N);
  tls_pump(&p.cli, &p.srv, 0);
  assert_int_equal(p.srv.ngot, N);
  assert_memory_equal(p.srv.got, up, N);
  assert_int_equal(p.cli.ngot, N);
  assert_memory_equal(p.cli.got, down, N);
  pair_free(&p);
  free(up);
  free(down);
}

static void test_bytes_fed_one_at_a_time(void **state) {
  (void)state;
  pair p;
  pair_init(&p, "example.com");
  tls_pump(&p.cli, &p.srv, 1);
  assert_true(p.cli.s.established);
  assert_true(p.srv.s.established);
  assert_int_equal(wh_tls_stream_write(&p.cli.s, "ping", 4), 0);
  assert_int_equal(wh_tls_stream_write(&p.srv.s, "pong!", 5), 0);
  tls_pump(&p.cli, &p.srv, 1);
  assert_int_equal(p.srv.ngot, 4);
  assert_memory_equal(p.srv.got, "ping", 4);
  assert_int_equal(p.cli.ngot, 5);
  assert_memory_equal(p.cli.got, "pong!", 5);
  pair_free(&p);
}

static void test_close_notify_gives_closed(void **state) {
  (void)state;
  pair p;
  pair_init(&p, "localhost");
  handshake(&p);
  assert_int_equal(wh_tls_stream_write(&p.cli.s, "last", 4), 0);
  wh_tls_stream_shutdown(&p.cli.s);
  tls_pump(&p.cli, &p.srv, 0);
  /* the data before the alert arrives, then the close */
  assert_int_equal(p.srv.ngot, 4);
  assert_memory_equal(p.srv.got, "last", 4);
  assert_int_equal(p.srv.last, WH_TLS_CLOSED);
  assert_true(p.srv.s.peer_closed);
  assert_false(p.srv.s.failed);
  /* it stays closed */
  char buf[8];
  assert_int_equal(wh_tls_stream_read(&p.srv.s, buf, sizeof(buf)), WH_TLS_CLOSED);
  /* the server's own close_notify reaches the client the same way */
  wh_tls_stream_shutdown(&p.srv.s);
  tls_pump(&p.cli, &p.srv, 0);
  assert_int_equal(p.cli.last, WH_TLS_CLOSED);
  pair_free(&p);
}

static void test_shutdown_before_handshake_sends_nothing(void **state) {
  (void)state;
  pair p;
  pair_init(&p, NULL);
  wh_tls_stream_shutdown(&p.srv.s);
  const char *d = NULL;
  assert_int_equal(wh_tls_stream_output(&p.srv.s, &d), 0);
  assert_false(p.srv.s.failed);
  pair_free(&p);
}

static void test_garbage_gives_error_and_reason(void **state) {
  (void)state;
  wh_tls_stream s;
  assert_int_equal(wh_tls_stream_init_server(&s, g_srv), 0);
  const char req[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  assert_int_equal(wh_tls_stream_feed(&s, req, sizeof(req) - 1), 0);
  char buf[64];
  assert_int_equal(wh_tls_stream_read(&s, buf, sizeof(buf)), WH_TLS_ERROR);
  assert_true(s.failed);
  assert_false(s.established);
  assert_true(s.err != 0);
  char why[128];
  const char *r = wh_tls_stream_reason(&s, why, sizeof(why));
  assert_ptr_equal(r, why);
  assert_true(strlen(why) > 0);
  assert_null(strstr(why, "closed during the handshake"));
  /* the failure sticks, and the OpenSSL error queue was left clean for the
   * other sessions of the thread */
  assert_int_equal(wh_tls_stream_read(&s, buf, sizeof(buf)), WH_TLS_ERROR);
  assert_int_equal(wh_tls_stream_write(&s, "x", 1), WH_TLS_ERROR);
  assert_int_equal(ERR_peek_error(), 0);
  wh_tls_stream_free(&s);
}

static void test_garbage_record_after_handshake(void **state) {
  (void)state;
  pair p;
  pair_init(&p, "localhost");
  handshake(&p);
  /* an application data record whose content fails authentication */
  unsigned char rec[5 + 40] = {0x17, 0x03, 0x03, 0x00, 40};
  for (size_t i = 5; i < sizeof(rec); i++)
    rec[i] = (unsigned char)i;
  assert_int_equal(wh_tls_stream_feed(&p.srv.s, rec, sizeof(rec)), 0);
  assert_int_equal(tls_peer_drain(&p.srv), WH_TLS_ERROR);
  assert_true(p.srv.s.failed);
  char why[128];
  wh_tls_stream_reason(&p.srv.s, why, sizeof(why));
  assert_true(strlen(why) > 0);
  assert_null(strstr(why, "closed during the handshake"));
  assert_int_equal(p.srv.ngot, 0);
  pair_free(&p);
}

static void test_untrusted_certificate_fails_on_client(void **state) {
  (void)state;
  tls_peer cli = {0}, srv = {0};
  SSL_CTX *cctx = client_ctx(false);
  assert_int_equal(wh_tls_stream_init_server(&srv.s, g_srv), 0);
  assert_int_equal(wh_tls_stream_init_client(&cli.s, cctx, "localhost"), 0);
  tls_pump(&cli, &srv, 0);
  assert_int_equal(cli.last, WH_TLS_ERROR);
  assert_false(cli.s.established);
  char why[128];
  wh_tls_stream_reason(&cli.s, why, sizeof(why));
  assert_non_null(strstr(why, "certificate verify failed"));
  /* the client's alert reached the server, which fails too */
  assert_int_equal(srv.last, WH_TLS_ERROR);
  tls_peer_free(&cli);
  tls_peer_free(&srv);
  SSL_CTX_free(cctx);
}

static void test_reason_without_openssl_error(void **state) {
  (void)state;
  wh_tls_stream s;
  memset(&s, 0, sizeof(s));
  char why[64];
  assert_string_equal(wh_tls_stream_reason(&s, why, sizeof(why)),
                      "connection closed during the handshake");
  /* truncated into a small buffer, still terminated */
  char tiny[8];
  assert_string_equal(wh_tls_stream_reason(&s, tiny, sizeof(tiny)), "connect");
}

/* Writing before the handshake is over is refused (WH_TLS_NOT_READY), never
 * queued in clear text, and leaves the stream usable. */
static void test_write_before_handshake(void **state) {
  (void)state;
  pair p;
  pair_init(&p, "localhost");
  /* refused without failing the stream, and nothing leaves in clear text */
  assert_int_equal(wh_tls_stream_write(&p.cli.s, "early", 5), WH_TLS_NOT_READY);
  assert_false(p.cli.s.failed);
  const char *out = NULL;
  size_t nout = wh_tls_stream_output(&p.cli.s, &out);
  assert_true(nout == 0 || memmem(out, nout, "early", 5) == NULL);
  handshake(&p); /* the stream is still usable */
  assert_int_equal(wh_tls_stream_write(&p.cli.s, "now", 3), 0);
  tls_pump(&p.cli, &p.srv, 0);
  assert_int_equal(p.srv.ngot, 3);
  pair_free(&p);

  /* the same on the server side, before any ClientHello */
  pair_init(&p, "localhost");
  assert_int_equal(wh_tls_stream_write(&p.srv.s, "early", 5), WH_TLS_NOT_READY);
  const char *d = NULL;
  size_t n = wh_tls_stream_output(&p.srv.s, &d);
  assert_true(n == 0 || memmem(d, n, "early", 5) == NULL);
  pair_free(&p);

  /* after the handshake the same write succeeds */
  pair_init(&p, "localhost");
  handshake(&p);
  assert_int_equal(wh_tls_stream_write(&p.cli.s, "late", 4), 0);
  tls_pump(&p.cli, &p.srv, 0);
  assert_int_equal(p.srv.ngot, 4);
  pair_free(&p);
}

static void test_version_string(void **state) {
  (void)state;
  wh_tls_stream none;
  memset(&none, 0, sizeof(none));
  assert_string_equal(wh_tls_stream_version(&none), "");

  pair p;
  pair_init(&p, "localhost");
  handshake(&p);
  assert_string_equal(wh_tls_stream_version(&p.srv.s), "TLSv1.3");
  assert_string_equal(wh_tls_stream_version(&p.cli.s), "TLSv1.3");
  pair_free(&p);

  /* a client capped at TLS 1.2 */
  pair_init(&p, "localhost");
  assert_int_equal(SSL_set_max_proto_version(p.cli.s.ssl, TLS1_2_VERSION), 1);
  handshake(&p);
  assert_string_equal(wh_tls_stream_version(&p.srv.s), "TLSv1.2");
  assert_string_equal(wh_tls_stream_version(&p.cli.s), "TLSv1.2");
  pair_free(&p);
}

static void test_alpn_getter(void **state) {
  (void)state;
  const unsigned char *a = (const unsigned char *)"x";
  unsigned alen = 99;
  pair p;
  /* no ALPN offered: nothing negotiated */
  pair_init(&p, "localhost");
  handshake(&p);
  wh_tls_stream_alpn(&p.srv.s, &a, &alen);
  assert_int_equal(alen, 0);
  wh_tls_stream_alpn(&p.cli.s, &a, &alen);
  assert_int_equal(alen, 0);
  pair_free(&p);

  /* offered h2 and http/1.1: the server takes the one it has */
  pair_init(&p, "localhost");
  static const unsigned char offer[] = "\x02h2\x08http/1.1";
  assert_int_equal(SSL_set_alpn_protos(p.cli.s.ssl, offer, sizeof(offer) - 1), 0);
  handshake(&p);
  wh_tls_stream_alpn(&p.srv.s, &a, &alen);
  assert_int_equal(alen, 8);
  assert_memory_equal(a, "http/1.1", 8);
  wh_tls_stream_alpn(&p.cli.s, &a, &alen);
  assert_int_equal(alen, 8);
  assert_memory_equal(a, "http/1.1", 8);
  pair_free(&p);

  /* a stream without a session */
  wh_tls_stream none;
  memset(&none, 0, sizeof(none));
  a = (const unsigned char *)"x";
  wh_tls_stream_alpn(&none, &a, &alen);
  assert_null(a);
  assert_int_equal(alen, 0);
}

static void test_client_sni(void **state) {
  (void)state;
  pair p;
  pair_init(&p, "example.com");
  handshake(&p);
  assert_string_equal(SSL_get_servername(p.srv.s.ssl, TLSEXT_NAMETYPE_host_name), "example.com");
  pair_free(&p);

  pair_init(&p, NULL);
  handshake(&p);
  assert_null(SSL_get_servername(p.srv.s.ssl, TLSEXT_NAMETYPE_host_name));
  pair_free(&p);

  pair_init(&p, ""); /* empty is no SNI */
  handshake(&p);
  assert_null(SSL_get_servername(p.srv.s.ssl, TLSEXT_NAMETYPE_host_name));
  pair_free(&p);
}

static void test_session_outlives_ctx_reference(void **state) {
  (void)state;
  /* the stream holds its own reference: dropping ours keeps it working */
  SSL_CTX *own = SSL_CTX_new(TLS_server_method());
  assert_non_null(own);
  assert_int_equal(wh_cert_install(g_cert, own), 0);
  pair p;
  memset(&p, 0, sizeof(p));
  p.cctx = client_ctx(true);
  assert_int_equal(wh_tls_stream_init_server(&p.srv.s, own), 0);
  SSL_CTX_free(own);
  assert_int_equal(wh_tls_stream_init_client(&p.cli.s, p.cctx, "localhost"), 0);
  handshake(&p);
  assert_int_equal(wh_tls_stream_write(&p.srv.s, "ok", 2), 0);
  tls_pump(&p.cli, &p.srv, 0);
  assert_int_equal(p.cli.ngot, 2);
  pair_free(&p);
}

static void test_free_twice_and_feed_empty(void **state) {
  (void)state;
  wh_tls_stream s;
  assert_int_equal(wh_tls_stream_init_server(&s, g_srv), 0);
  assert_int_equal(wh_tls_stream_feed(&s, NULL, 0), 0);
  assert_false(s.failed);
  wh_tls_stream_free(&s);
  assert_null(s.ssl);
  assert_null(s.rbio);
  assert_null(s.wbio);
  wh_tls_stream_free(&s); /* harmless */
  assert_string_equal(wh_tls_stream_version(&s), "");
}

static void test_truncated_handshake_waits(void **state) {
  (void)state;
  /* half a ClientHello is not an error: the session waits for the rest */
  pair p;
  pair_init(&p, "localhost");
  tls_peer_drain(&p.cli);
  const char *d = NULL;
  size_t n = wh_tls_stream_output(&p.cli.s, &d);
  assert_true(n > 10);
  char *hello = malloc(n);
  assert_non_null(hello);
  memcpy(hello, d, n);
  wh_tls_stream_consumed(&p.cli.s);
  assert_int_equal(wh_tls_stream_feed(&p.srv.s, hello, n / 2), 0);
  assert_int_equal(tls_peer_drain(&p.srv), WH_TLS_AGAIN);
  assert_false(p.srv.s.failed);
  assert_int_equal(wh_tls_stream_output(&p.srv.s, &d), 0);
  assert_int_equal(wh_tls_stream_feed(&p.srv.s, hello + n / 2, n - n / 2), 0);
  free(hello);
  tls_pump(&p.cli, &p.srv, 0);
  assert_true(p.cli.s.established);
  assert_true(p.srv.s.established);
  pair_free(&p);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_handshake_completes),
      cmocka_unit_test(test_first_output_is_client_hello),
      cmocka_unit_test(test_data_both_ways),
      cmocka_unit_test(test_100k_both_ways),
      cmocka_unit_test(test_bytes_fed_one_at_a_time),
      cmocka_unit_test(test_close_notify_gives_closed),
      cmocka_unit_test(test_shutdown_before_handshake_sends_nothing),
      cmocka_unit_test(test_garbage_gives_error_and_reason),
      cmocka_unit_test(test_garbage_record_after_handshake),
      cmocka_unit_test(test_untrusted_certificate_fails_on_client),
      cmocka_unit_test(test_reason_without_openssl_error),
      cmocka_unit_test(test_write_before_handshake),
      cmocka_unit_test(test_version_string),
      cmocka_unit_test(test_alpn_getter),
      cmocka_unit_test(test_client_sni),
      cmocka_unit_test(test_session_outlives_ctx_reference),
      cmocka_unit_test(test_free_twice_and_feed_empty),
      cmocka_unit_test(test_truncated_handshake_waits),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
