/* One TLS session over a byte stream the caller owns, through memory BIOs:
 * the caller hands in the bytes it read from the socket and writes out the
 * bytes the session produced. Keeping OpenSSL off the socket lets the worker
 * loop stay the only one touching file descriptors, lets the bytes of a
 * ClientHello read ahead (to route by SNI) be replayed into the handshake,
 * and costs no extra copy on the write side (the produced records go
 * straight to uv_try_write). Loop thread only. */
#ifndef WH_TLS_TLS_STREAM_H
#define WH_TLS_TLS_STREAM_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct wh_tls_stream {
  SSL *ssl;         /* owned */
  BIO *rbio, *wbio; /* owned by ssl */
  bool established; /* handshake finished */
  bool peer_closed; /* close_notify received */
  bool failed;
  unsigned long err; /* the first OpenSSL error of a failure, for the log */
} wh_tls_stream;

enum {
  WH_TLS_AGAIN = 0,      /* nothing more until more bytes arrive */
  WH_TLS_CLOSED = -1,    /* the peer sent close_notify */
  WH_TLS_ERROR = -2,     /* handshake or record failure: close the connection */
  WH_TLS_NOT_READY = -3, /* a write before the handshake finished */
};

/* Server side session on ctx (SSL_new takes its own reference on ctx, so the
 * session outlives the snapshot that selected ctx). 0 or WH_TLS_ERROR. */
int wh_tls_stream_init_server(wh_tls_stream *t, SSL_CTX *ctx);
/* Client side, for TLS to backends: sni may be NULL. */
int wh_tls_stream_init_client(wh_tls_stream *t, SSL_CTX *ctx, const char *sni);
void wh_tls_stream_free(wh_tls_stream *t); /* NULL-safe for the fields; keeps t itself */

/* Bytes read from the socket. 0, or WH_TLS_ERROR on OOM. */
int wh_tls_stream_feed(wh_tls_stream *t, const void *data, size_t len);
/* Advances the handshake and decrypts: returns the number of plaintext bytes
 * put in buf (> 0), WH_TLS_AGAIN, WH_TLS_CLOSED or WH_TLS_ERROR. Call until it
 * returns <= 0, flushing the output (wh_tls_stream_output) after each call:
 * the handshake and alerts produce bytes to send. */
ssize_t wh_tls_stream_read(wh_tls_stream *t, char *buf, size_t cap);
/* Encrypts len bytes (all of them: memory BIOs never block). 0,
 * WH_TLS_ERROR, or WH_TLS_NOT_READY before the handshake finished (write
 * once established; nothing was queued). */
int wh_tls_stream_write(wh_tls_stream *t, const void *data, size_t len);
/* wh_tls_stream_write of n buffers, coalesced through scratch (cap bytes)
 * into one record when there are several and they fit: a response head and
 * a small body then cost one record, not two. libuv's uv_buf_t is laid out
 * as struct iovec on Unix, so callers pass their buffers cast. */
int wh_tls_stream_writev(wh_tls_stream *t, const struct iovec *v, unsigned n, char *scratch,
                         size_t cap);
/* Queues close_notify. */
void wh_tls_stream_shutdown(wh_tls_stream *t);
/* The bytes waiting to be sent: a view valid until the next call on t;
 * after sending (or copying) them call wh_tls_stream_consumed. */
size_t wh_tls_stream_output(wh_tls_stream *t, const char **data);
void wh_tls_stream_consumed(wh_tls_stream *t);
/* "TLSv1.3", the cipher, the negotiated ALPN ("" when none) and the SNI. */
const char *wh_tls_stream_version(const wh_tls_stream *t);
void wh_tls_stream_alpn(const wh_tls_stream *t, const unsigned char **p, unsigned *len);
/* A readable reason for a failure ("no shared cipher", "certificate
 * required"), into buf. */
const char *wh_tls_stream_reason(const wh_tls_stream *t, char *buf, size_t cap);

#endif
