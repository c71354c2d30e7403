#include "lib/tls/acme_alpn.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <openssl/tls1.h>

#define ALPN_LEN (sizeof(WH_ACME_TLS_ALPN) - 1)

bool wh_tls_acme_offered(const wh_client_hello *ch) {
  for (size_t i = 0; i < ch->nalpn; i++)
    if (strcmp(ch->alpn[i], WH_ACME_TLS_ALPN) == 0)
      return true;
  return false;
}

/* Whether a wire-format protocol list (without its 2-byte length) names
 * acme-tls/1; *at gets the entry. */
static bool list_has_acme(const unsigned char *p, size_t len, const unsigned char **at) {
  for (size_t i = 0; i < len;) {
    size_t n = p[i];
    if (i + 1 + n > len)
      return false;
    if (n == ALPN_LEN && memcmp(p + i + 1, WH_ACME_TLS_ALPN, ALPN_LEN) == 0) {
      *at = p + i;
      return true;
    }
    i += 1 + n;
  }
  return false;
}

/* The validation context only ever agrees on acme-tls/1 (RFC 8737 §3). */
static int select_acme(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg) {
  (void)ssl, (void)arg;
  const unsigned char *at = NULL;
  if (!list_has_acme(in, inlen, &at))
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = at + 1;
  *outlen = (unsigned char)ALPN_LEN;
  return SSL_TLSEXT_ERR_OK;
}

/* One context for every validation: the certificate is set per session. It
 * lives as long as the process. */
static SSL_CTX *acme_ctx;
static pthread_once_t acme_once = PTHREAD_ONCE_INIT;

static void make_acme_ctx(void) {
  SSL_CTX *c = SSL_CTX_new(TLS_server_method());
  if (!c)
    return;
  static const unsigned char sid[] = "wharf acme-tls/1";
  if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_session_id_context(c, sid, sizeof(sid) - 1) != 1) {
    SSL_CTX_free(c);
    return;
  }
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(c, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_num_tickets(c, 0);
  SSL_CTX_set_alpn_select_cb(c, select_acme, NULL);
  acme_ctx = c;
}

/* The validation is the whole exchange: once the handshake is done the
 * session behaves as if the peer had closed, so the connection's next read
 * ends it and no byte after the handshake is ever taken for HTTP. */
static void on_info(const SSL *ssl, int where, int ret) {
  (void)ret;
  if (where & SSL_CB_HANDSHAKE_DONE)
    SSL_set_shutdown((SSL *)ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
}

/* The host_name of the server_name extension (RFC 6066 §3), not
 * NUL-terminated. */
static bool hello_sni(SSL *ssl, const char **name, size_t *len) {
  const unsigned char *p = NULL;
  size_t n = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &n) != 1 || n < 2)
    return false;
  size_t list = ((size_t)p[0] << 8) | p[1];
  if (list + 2 > n)
    return false;
  for (size_t i = 2; i + 3 <= list + 2;) {
    size_t l = ((size_t)p[i + 1] << 8) | p[i + 2];
    if (i + 3 + l > list + 2)
      return false;
    if (p[i] == TLSEXT_NAMETYPE_host_name) {
      *name = (const char *)p + i + 3;
      *len = l;
      return true;
    }
    i += 3 + l;
  }
  return false;
}

static bool hello_offers_acme(SSL *ssl) {
  const unsigned char *p = NULL, *at = NULL;
  size_t n = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p, &n) !=
          1 ||
      n < 2)
    return false;
  size_t list = ((size_t)p[0] << 8) | p[1];
  return list + 2 <= n && list_has_acme(p + 2, list, &at);
}

static int refuse(int *al, int alert) {
  *al = alert;
  return SSL_CLIENT_HELLO_ERROR;
}

/* Moves a validation handshake to the challenge's certificate. */
static bool answer(SSL *ssl, X509 *cert, EVP_PKEY *key) {
  pthread_once(&acme_once, make_acme_ctx);
  if (!acme_ctx || SSL_set_SSL_CTX(ssl, acme_ctx) != acme_ctx ||
      SSL_use_certificate(ssl, cert) != 1 || SSL_use_PrivateKey(ssl, key) != 1)
    return false;
  /* what the entry point's options put on the session itself */
  SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
  SSL_set_options(ssl, SSL_OP_NO_TICKET);
  SSL_set_num_tickets(ssl, 0);
  SSL_set_min_proto_version(ssl, TLS1_2_VERSION);
  SSL_set_max_proto_version(ssl, 0);
  SSL_set_info_callback(ssl, on_info);
  return true;
}

static int on_client_hello(SSL *ssl, int *al, void *arg) {
  bool acme_only = arg != NULL;
  if (!wh_acme_chal_tls_any())
    return acme_only ? refuse(al, SSL_AD_UNRECOGNIZED_NAME) : SSL_CLIENT_HELLO_SUCCESS;
  const char *sni = NULL;
  size_t sni_len = 0;
  X509 *cert = NULL;
  EVP_PKEY *key = NULL;
  if (!hello_offers_acme(ssl) || !hello_sni(ssl, &sni, &sni_len) ||
      !wh_acme_chal_tls_get(sni, sni_len, &cert, &key))
    return acme_only ? refuse(al, SSL_AD_UNRECOGNIZED_NAME) : SSL_CLIENT_HELLO_SUCCESS;
  bool ok = answer(ssl, cert, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return ok ? SSL_CLIENT_HELLO_SUCCESS : refuse(al, SSL_AD_INTERNAL_ERROR);
}

void wh_tls_acme_install(SSL_CTX *ctx, bool acme_only) {
  SSL_CTX_set_client_hello_cb(ctx, on_client_hello, acme_only ? (void *)1 : NULL);
}
