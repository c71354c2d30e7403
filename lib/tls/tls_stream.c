#include "lib/tls/tls_stream.h"

#include <openssl/err.h>
#include <string.h>

static int init_common(wh_tls_stream *t, SSL_CTX *ctx) {
  memset(t, 0, sizeof(*t));
  t->ssl = SSL_new(ctx);
  if (!t->ssl)
    return WH_TLS_ERROR;
  t->rbio = BIO_new(BIO_s_mem());
  t->wbio = BIO_new(BIO_s_mem());
  if (!t->rbio || !t->wbio) {
    BIO_free(t->rbio);
    BIO_free(t->wbio);
    SSL_free(t->ssl);
    t->ssl = NULL;
    return WH_TLS_ERROR;
  }
  /* An empty memory BIO reports "retry" rather than EOF, which is what a
   * non-blocking socket with nothing to read looks like to OpenSSL. */
  BIO_set_mem_eof_return(t->rbio, -1);
  BIO_set_mem_eof_return(t->wbio, -1);
  SSL_set_bio(t->ssl, t->rbio, t->wbio);
  return 0;
}

int wh_tls_stream_init_server(wh_tls_stream *t, SSL_CTX *ctx) {
  if (init_common(t, ctx) < 0)
    return WH_TLS_ERROR;
  SSL_set_accept_state(t->ssl);
  return 0;
}

int wh_tls_stream_init_client(wh_tls_stream *t, SSL_CTX *ctx, const char *sni) {
  if (init_common(t, ctx) < 0)
    return WH_TLS_ERROR;
  if (sni && *sni && !SSL_set_tlsext_host_name(t->ssl, sni)) {
    wh_tls_stream_free(t);
    return WH_TLS_ERROR;
  }
  SSL_set_connect_state(t->ssl);
  return 0;
}

void wh_tls_stream_free(wh_tls_stream *t) {
  if (t->ssl)
    SSL_free(t->ssl); /* frees both BIOs */
  t->ssl = NULL;
  t->rbio = t->wbio = NULL;
}

int wh_tls_stream_feed(wh_tls_stream *t, const void *data, size_t len) {
  if (len == 0)
    return 0;
  if (BIO_write(t->rbio, data, (int)len) != (int)len) {
    t->failed = true;
    return WH_TLS_ERROR;
  }
  return 0;
}

static ssize_t fail(wh_tls_stream *t) {
  t->failed = true;
  if (!t->err)
    t->err = ERR_peek_last_error();
  ERR_clear_error();
  return WH_TLS_ERROR;
}

ssize_t wh_tls_stream_read(wh_tls_stream *t, char *buf, size_t cap) {
  if (t->failed)
    return WH_TLS_ERROR;
  if (t->peer_closed)
    return WH_TLS_CLOSED;
  if (!t->established) {
    int rc = SSL_do_handshake(t->ssl);
    if (rc != 1) {
      int e = SSL_get_error(t->ssl, rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return WH_TLS_AGAIN;
      return fail(t);
    }
    t->established = true;
  }
  size_t got = 0;
  int rc = SSL_read_ex(t->ssl, buf, cap, &got);
  if (rc == 1)
    return (ssize_t)got;
  int e = SSL_get_error(t->ssl, 0);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
    return WH_TLS_AGAIN;
  if (e == SSL_ERROR_ZERO_RETURN) {
    t->peer_closed = true;
    return WH_TLS_CLOSED;
  }
  return fail(t);
}

int wh_tls_stream_write(wh_tls_stream *t, const void *data, size_t len) {
  if (t->failed)
    return WH_TLS_ERROR;
  if (!t->established)
    return WH_TLS_NOT_READY; /* nothing is sent in the clear, and t stays usable */
  while (len) {
    size_t put = 0;
    if (SSL_write_ex(t->ssl, data, len, &put) != 1)
      return (int)fail(t);
    data = (const char *)data + put;
    len -= put;
  }
  return 0;
}

int wh_tls_stream_writev(wh_tls_stream *t, const struct iovec *v, unsigned n, char *scratch,
                         size_t cap) {
  size_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += v[i].iov_len;
  if (n > 1 && total <= cap) {
    size_t off = 0;
    for (unsigned i = 0; i < n; i++) {
      memcpy(scratch + off, v[i].iov_base, v[i].iov_len);
      off += v[i].iov_len;
    }
    return wh_tls_stream_write(t, scratch, off);
  }
  for (unsigned i = 0; i < n; i++) {
    int rc = v[i].iov_len ? wh_tls_stream_write(t, v[i].iov_base, v[i].iov_len) : 0;
    if (rc < 0)
      return rc;
  }
  return 0;
}

void wh_tls_stream_shutdown(wh_tls_stream *t) {
  if (t->ssl && t->established && !t->failed)
    (void)SSL_shutdown(t->ssl);
  ERR_clear_error();
}

size_t wh_tls_stream_output(wh_tls_stream *t, const char **data) {
  char *p = NULL;
  long n = t->wbio ? BIO_get_mem_data(t->wbio, &p) : 0;
  *data = p;
  return n > 0 ? (size_t)n : 0;
}

void wh_tls_stream_consumed(wh_tls_stream *t) {
  (void)BIO_reset(t->wbio);
}

const char *wh_tls_stream_version(const wh_tls_stream *t) {
  return t->ssl ? SSL_get_version(t->ssl) : "";
}

void wh_tls_stream_alpn(const wh_tls_stream *t, const unsigned char **p, unsigned *len) {
  *p = NULL;
  *len = 0;
  if (t->ssl)
    SSL_get0_alpn_selected(t->ssl, p, len);
}

const char *wh_tls_stream_reason(const wh_tls_stream *t, char *buf, size_t cap) {
  if (!t->err) {
    snprintf(buf, cap, "connection closed during the handshake");
    return buf;
  }
  const char *r = ERR_reason_error_string(t->err);
  snprintf(buf, cap, "%s", r ? r : "TLS error");
  return buf;
}
