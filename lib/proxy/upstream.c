#include "lib/proxy/upstream.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/tls/client.h"
#include "lib/tls/tls_stream.h"

/* wh_tls_stream_writev takes the uv_buf_t arrays of this file and conn.c as
 * iovecs, which libuv documents them to be on Unix. */
_Static_assert(sizeof(uv_buf_t) == sizeof(struct iovec) &&
                   offsetof(uv_buf_t, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(uv_buf_t, len) == offsetof(struct iovec, iov_len),
               "uv_buf_t is not laid out as struct iovec");

/* Go's http.Transport TLSHandshakeTimeout, which Traefik keeps. */
#define TLS_HANDSHAKE_MS 10000

static wh_upstream *of_parser(llhttp_t *p) {
  return p->data;
}

/* ---- response parsing ---- */

static int fail_head(wh_upstream *u) {
  (void)u;
  return HPE_USER;
}

static int cb_begin(llhttp_t *p) {
  wh_upstream *u = of_parser(p);
  wh_head_reset(&u->head);
  u->in_trailers = false;
  return 0;
}

static int cb_field(llhttp_t *p, const char *at, size_t len) {
  return wh_head_field(&of_parser(p)->head, at, len) ? fail_head(of_parser(p)) : 0;
}
static int cb_field_done(llhttp_t *p) {
  return wh_head_field_done(&of_parser(p)->head) ? fail_head(of_parser(p)) : 0;
}
static int cb_value(llhttp_t *p, const char *at, size_t len) {
  return wh_head_value(&of_parser(p)->head, at, len) ? fail_head(of_parser(p)) : 0;
}
static int cb_value_done(llhttp_t *p) {
  return wh_head_value_done(&of_parser(p)->head) ? fail_head(of_parser(p)) : 0;
}

/* HARDENING 33: a backend's framing must be unambiguous too. */
static bool te_ok(const wh_upstream *u) {
  size_t n = 0;
  for (size_t i = 0; i < u->hdrs.n; i++) {
    const wh_header *h = &u->hdrs.v[i];
    if (strcasecmp(h->name, "Transfer-Encoding") != 0)
      continue;
    if (++n > 1 || strcasecmp(h->value, "chunked") != 0)
      return false;
  }
  return true;
}

static int cb_headers_complete(llhttp_t *p) {
  wh_upstream *u = of_parser(p);
  u->status = p->status_code;
  if (!u->c)
    return -1;
  if (wh_head_to_headers(&u->head, &u->hdrs) < 0 || !te_ok(u) || p->http_major != 1) {
    u->head.err = 502;
    return -1;
  }
  /* trailers, if any, are collected from here */
  u->head.n = 0;
  u->in_trailers = true;
  int rc = wh_conn_resp_head(u->c, u);
  if (rc < 0)
    return -1;
  if (u->status == 101)
    return 0;
  if (u->status >= 100 && u->status < 200)
    return 0;
  return (u->is_head_req || u->status == 204 || u->status == 304 || rc == 1) ? 1 : 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len) {
  wh_upstream *u = of_parser(p);
  if (!u->c)
    return -1;
  return wh_conn_resp_body(u->c, at, len) < 0 ? -1 : 0;
}

static int cb_message_complete(llhttp_t *p) {
  wh_upstream *u = of_parser(p);
  if (u->status >= 100 && u->status < 200) {
    if (u->status == 101) {
      u->upgraded = true;
      return 0; /* llhttp stops with HPE_PAUSED_UPGRADE */
    }
    return 0; /* informational: the final response follows */
  }
  u->msg_done = true;
  return HPE_PAUSED;
}

static const llhttp_settings_t resp_settings = {
    .on_message_begin = cb_begin,
    .on_header_field = cb_field,
    .on_header_field_complete = cb_field_done,
    .on_header_value = cb_value,
    .on_header_value_complete = cb_value_done,
    .on_headers_complete = cb_headers_complete,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
};

static const llhttp_settings_t *settings(void) {
  return &resp_settings;
}

/* ---- lifetime ---- */

static void free_upstream(wh_upstream *u) {
  u->w->nupstreams--;
  if (u->tls) {
    wh_tls_stream_free(u->tls);
    free(u->tls);
  }
  free(u->label);
  free(u->preface);
  wh_head_free(&u->head);
  wh_headers_free(&u->hdrs);
  free(u->key);
  free(u);
}

static void on_closed(uv_handle_t *h) {
  free_upstream(h->data);
}

/* Best effort: a backend that sees close_notify knows the close was clean. */
void wh_upstream_close_notify(wh_upstream *u) {
  if (!u->tls || !u->tls->established || !u->tcp_inited)
    return;
  wh_tls_stream_shutdown(u->tls);
  const char *data = NULL;
  size_t n = wh_tls_stream_output(u->tls, &data);
  if (n && u->tcp.write_queue_size == 0) {
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
    (void)uv_try_write((uv_stream_t *)&u->tcp, &b, 1);
  }
  wh_tls_stream_consumed(u->tls);
}

void wh_upstream_close(wh_upstream *u) {
  if (u->state == WH_US_CLOSED)
    return;
  if (u->state == WH_US_ACTIVE || u->state == WH_US_IDLE)
    wh_upstream_close_notify(u);
  wh_pool_remove(&u->w->pool, &u->pe);
  u->state = WH_US_CLOSED;
  u->c = NULL;
  if (u->gai_pending) {
    uv_cancel((uv_req_t *)&u->gai); /* freed from the callback */
    return;
  }
  if (u->tcp_inited)
    uv_close((uv_handle_t *)&u->tcp, on_closed);
  else
    free_upstream(u);
}

static void pool_close(wh_pool_entry *e, void *ctx) {
  (void)ctx;
  wh_upstream *u = (wh_upstream *)((char *)e - offsetof(wh_upstream, pe));
  wh_upstream_close(u);
}

void wh_upstream_expire_idle(wh_worker *w, uint64_t now) {
  wh_pool_expire(&w->pool, now, pool_close, NULL);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  wh_upstream *u = h->data;
  *buf = uv_buf_init(u->w->rbuf, sizeof(u->w->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

void wh_upstream_update_reading(wh_upstream *u) {
  if (u->state != WH_US_ACTIVE && u->state != WH_US_IDLE && u->state != WH_US_HANDSHAKE)
    return;
  bool want = u->state != WH_US_ACTIVE || (!u->bp_paused && !(u->c && u->c->tunnel_eof_up));
  if (want && !u->reading) {
    if (uv_read_start((uv_stream_t *)&u->tcp, on_alloc, on_read) == 0)
      u->reading = true;
  } else if (!want && u->reading) {
    uv_read_stop((uv_stream_t *)&u->tcp);
    u->reading = false;
  }
}

static void response_error(wh_upstream *u, bool before_any_byte) {
  wh_conn *c = u->c;
  int status = 502; /* whatever the backend did wrong (HARDENING 33) */
  wh_upstream_close(u);
  if (c)
    wh_conn_up_failed(c, status, before_any_byte);
}

/* Plaintext from the backend (or its end: nread < 0), in order. */
static void on_plain(wh_upstream *u, ssize_t nread, char *base) {
  if (u->state == WH_US_IDLE) {
    /* A pooled connection must stay silent: EOF, an error or stray bytes
     * all mean it cannot carry another request. */
    wh_upstream_close(u);
    return;
  }
  wh_conn *c = u->c;
  if (!c) {
    wh_upstream_close(u);
    return;
  }
  if (u->upgraded) {
    if (nread == UV_EOF)
      wh_tunnel_on_up_eof(c);
    else if (nread < 0)
      wh_conn_destroy(c);
    else
      wh_tunnel_on_up_data(c, base, (size_t)nread);
    return;
  }
  if (nread < 0) {
    if (nread == UV_EOF && u->got_byte) {
      /* Close-delimited bodies end here; anything else is a truncation. */
      u->head.exec_end = NULL;
      /* cb_message_complete pauses, so a body that ends here finishes with
       * HPE_PAUSED, not HPE_OK */
      llhttp_errno_t fe = llhttp_finish(&u->parser);
      if ((fe == HPE_OK || fe == HPE_PAUSED) && u->msg_done) {
        u->no_reuse = true;
        wh_conn_resp_done(c, u);
        return;
      }
    }
    response_error(u, !u->got_byte);
    return;
  }
  u->got_byte = true;
  u->head.exec_end = base + nread;
  llhttp_errno_t e = llhttp_execute(&u->parser, base, (size_t)nread);
  if (u->state == WH_US_CLOSED || u->c != c)
    return; /* the exchange was torn down from a callback */
  if (e == HPE_OK) {
    wh_conn_flush_head(c);
    return;
  }
  const char *pos = llhttp_get_error_pos(&u->parser);
  size_t rest = pos ? (size_t)(base + nread - pos) : 0;
  if (e == HPE_PAUSED && u->msg_done) {
    if (rest)
      u->no_reuse = true; /* bytes beyond the response: never reuse */
    wh_conn_resp_done(c, u);
    return;
  }
  if (e == HPE_PAUSED_UPGRADE && u->upgraded) {
    u->no_reuse = true;
    wh_tunnel_start(c, pos, rest);
    return;
  }
  response_error(u, false);
}

/* ---- TLS ---- */

static void up_write_done(void *owner, int status);

/* Sends what the session produced (handshake, records, alerts). */
static int tls_flush(wh_upstream *u) {
  return wh_io_write_tls(&u->tcp, u->tls, up_write_done, u);
}

/* Never a silent fallback: the exchange gets a 502 and the log says which
 * backend and why (a verification failure is an operator's problem to fix,
 * hence a warning rather than debug). */
static void handshake_failed(wh_upstream *u, const char *why) {
  char buf[320];
  if (!why)
    why = wh_tls_client_failure(u->tls, buf, sizeof(buf));
  wh_log_warn("TLS to backend %s failed: %s", u->label ? u->label : u->key, why);
  wh_conn *c = u->c;
  wh_upstream_close(u);
  if (c)
    wh_conn_up_failed(c, 502, false);
}

/* false when u is gone */
static bool handshake_done(wh_upstream *u) {
  wh_conn *c = u->c;
  if (!c) {
    wh_upstream_close(u);
    return false;
  }
  char why[320];
  if (!wh_tls_client_check_peer(u->tcfg, u->tls, why, sizeof(why))) {
    handshake_failed(u, why);
    return false;
  }
  if (wh_log_get_level() <= WH_LOG_DEBUG)
    wh_log_debug("TLS to backend %s: %s%s", u->label ? u->label : u->key,
                 wh_tls_stream_version(u->tls),
                 wh_tls_client_resumed(u->tls) ? ", session resumed" : "");
  u->tcfg = NULL; /* the snapshot may go once the exchange ends */
  u->state = WH_US_ACTIVE;
  wh_conn_up_connected(c);
  return u->state != WH_US_CLOSED;
}

/* Ciphertext in: drive the session, hand the plaintext on. */
static void on_tls_read(wh_upstream *u, ssize_t nread, const char *data) {
  if (nread < 0) {
    if (u->state == WH_US_HANDSHAKE)
      handshake_failed(u, nread == UV_EOF ? "connection closed during the handshake"
                                          : uv_strerror((int)nread));
    else
      on_plain(u, nread, NULL);
    return;
  }
  if (wh_tls_stream_feed(u->tls, data, (size_t)nread) < 0) {
    if (u->state == WH_US_HANDSHAKE)
      handshake_failed(u, "out of memory");
    else
      on_plain(u, UV_ENOMEM, NULL);
    return;
  }
  for (;;) {
    bool was_established = u->tls->established;
    ssize_t n = wh_tls_stream_read(u->tls, u->w->up_plain, sizeof(u->w->up_plain));
    if (tls_flush(u) < 0 && n >= 0)
      n = WH_TLS_ERROR;
    if (n == WH_TLS_ERROR) {
      if (u->state == WH_US_HANDSHAKE) {
        handshake_failed(u, NULL);
        return;
      }
      /* In TLS 1.3 a backend refuses our client certificate (or the lack of
       * one) after our side of the handshake is done: the alert arrives in
       * place of the response, and deserves the same clear line. */
      if (u->state == WH_US_ACTIVE) {
        char why[320];
        wh_log_warn("TLS to backend %s failed: %s", u->label ? u->label : u->key,
                    wh_tls_client_failure(u->tls, why, sizeof(why)));
        if (!u->reused && !u->got_byte && !u->upgraded && u->c) {
          /* a fresh connection refused after the handshake (a client
           * certificate): another attempt would be refused the same way */
          wh_conn *c = u->c;
          wh_upstream_close(u);
          wh_conn_up_failed(c, 502, false);
          return;
        }
      }
      on_plain(u, UV_EPROTO, NULL);
      return;
    }
    if (!was_established && u->tls->established && u->state == WH_US_HANDSHAKE &&
        !handshake_done(u))
      return;
    if (n == WH_TLS_AGAIN)
      return; /* session tickets and the like leave an idle connection idle */
    if (n == WH_TLS_CLOSED) {
      on_plain(u, UV_EOF, NULL);
      return;
    }
    on_plain(u, n, u->w->up_plain);
    if (u->state == WH_US_CLOSED)
      return;
  }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  wh_upstream *u = st->data;
  if (nread == 0 || u->state == WH_US_CLOSED)
    return;
  if (u->tls)
    on_tls_read(u, nread, buf->base);
  else
    on_plain(u, nread, buf->base);
}

/* ---- connecting ---- */

static void up_write_done(void *owner, int status) {
  wh_upstream *u = owner;
  if (status == UV_ECANCELED || u->state == WH_US_CLOSED)
    return;
  wh_conn *c = u->c;
  if (status < 0) {
    if (c && !u->got_byte) {
      bool reused = u->reused;
      wh_upstream_close(u);
      wh_conn_up_failed(c, 502, reused);
    }
    return;
  }
  if (c && c->bp_paused && u->tcp.write_queue_size <= WH_BACKPRESSURE_BYTES) {
    c->bp_paused = false;
    wh_conn_update_reading(c);
  }
}

static int tls_write(wh_upstream *u, const uv_buf_t *bufs, unsigned n) {
  if (wh_tls_stream_writev(u->tls, (const struct iovec *)bufs, n, u->w->tls_out,
                           sizeof(u->w->tls_out)) < 0)
    return UV_EPROTO;
  return tls_flush(u);
}

int wh_upstream_write(wh_upstream *u, const uv_buf_t *bufs, unsigned n) {
  if (u->state != WH_US_ACTIVE)
    return UV_ENOTCONN;
  int rc = u->tls ? tls_write(u, bufs, n) : wh_io_write(&u->tcp, bufs, n, up_write_done, u);
  if (rc == 0 && u->c && u->tcp.write_queue_size > WH_BACKPRESSURE_BYTES && !u->c->bp_paused) {
    u->c->bp_paused = true;
    wh_conn_update_reading(u->c);
  }
  return rc;
}

static void on_connect(uv_connect_t *req, int status) {
  wh_upstream *u = req->data;
  u->connect_pending = false;
  if (u->state == WH_US_CLOSED)
    return;
  wh_conn *c = u->c;
  if (status < 0) {
    wh_upstream_close(u);
    if (c)
      wh_conn_up_failed(c, status == UV_ETIMEDOUT ? 504 : 502, false);
    return;
  }
  uv_tcp_nodelay(&u->tcp, 1);
  if (!c) {
    wh_upstream_close(u);
    return;
  }
  if (u->preface_len) {
    uv_buf_t b = uv_buf_init(u->preface, (unsigned)u->preface_len);
    if (wh_io_write(&u->tcp, &b, 1, up_write_done, u) < 0) {
      wh_upstream_close(u);
      wh_conn_up_failed(c, 502, false);
      return;
    }
  }
  if (!u->tls) {
    u->state = WH_US_ACTIVE;
    wh_conn_up_connected(c);
    return;
  }
  /* the ClientHello goes out now; the dial deadline becomes the handshake's */
  u->state = WH_US_HANDSHAKE;
  wh_conn_up_deadline(c, TLS_HANDSHAKE_MS);
  ssize_t n = wh_tls_stream_read(u->tls, u->w->up_plain, sizeof(u->w->up_plain));
  if (n == WH_TLS_ERROR || tls_flush(u) < 0) {
    handshake_failed(u, NULL);
    return;
  }
  wh_upstream_update_reading(u);
}

static void start_connect(wh_upstream *u, const struct sockaddr *sa) {
  int rc = uv_tcp_init(&u->w->loop, &u->tcp);
  if (rc == 0) {
    u->tcp_inited = true;
    u->tcp.data = u;
    u->creq.data = u;
    u->state = WH_US_CONNECTING;
    rc = uv_tcp_connect(&u->creq, &u->tcp, sa, on_connect);
    if (rc == 0)
      u->connect_pending = true;
  }
  if (rc < 0) {
    wh_conn *c = u->c;
    wh_upstream_close(u);
    if (c)
      wh_conn_up_failed(c, 502, false);
  }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  wh_upstream *u = req->data;
  u->gai_pending = false;
  if (u->state == WH_US_CLOSED) {
    if (res)
      uv_freeaddrinfo(res);
    free_upstream(u);
    return;
  }
  if (status < 0 || !res) {
    wh_conn *c = u->c;
    if (res)
      uv_freeaddrinfo(res);
    wh_log_warn("upstream %s: cannot resolve: %s", u->key, uv_strerror(status));
    wh_upstream_close(u);
    if (c)
      wh_conn_up_failed(c, 502, false);
    return;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  memcpy(&ss, res->ai_addr, res->ai_addrlen);
  uv_freeaddrinfo(res);
  if (ss.ss_family == AF_INET)
    ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)u->port);
  else
    ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)u->port);
  start_connect(u, (struct sockaddr *)&ss);
}

/* The TLS session is made before connecting, so that a failure to make it is
 * an out-of-memory answer rather than a half-open connection. */
static int prepare(wh_upstream *u, const wh_upstream_target *t) {
  u->key = wh_strdup(t->key);
  u->label = t->label ? wh_strdup(t->label) : NULL;
  if (!u->key || (t->label && !u->label))
    return -1;
  if (t->preface_len) {
    u->preface = malloc(t->preface_len);
    if (!u->preface)
      return -1;
    memcpy(u->preface, t->preface, t->preface_len);
    u->preface_len = t->preface_len;
  }
  if (!t->tls)
    return 0;
  if (!u->w->tls_sessions && !(u->w->tls_sessions = wh_tls_session_cache_new()))
    return -1;
  u->tls = calloc(1, sizeof(*u->tls));
  if (!u->tls || wh_tls_client_start(t->tls, t->host, u->w->tls_sessions, u->key, u->tls) < 0) {
    free(u->tls);
    u->tls = NULL;
    return -1;
  }
  u->tcfg = t->tls;
  return 0;
}

wh_upstream *wh_upstream_connect(wh_worker *w, wh_conn *c, const wh_upstream_target *t) {
  wh_upstream *u = calloc(1, sizeof(*u));
  if (!u)
    return NULL;
  u->w = w;
  w->nupstreams++;
  if (prepare(u, t) < 0) {
    free_upstream(u);
    return NULL;
  }
  const char *host = t->host;
  int port = t->port;
  u->c = c;
  u->port = port;
  wh_headers_init(&u->hdrs);
  llhttp_init(&u->parser, HTTP_RESPONSE, settings());
  u->parser.data = u;
  c->up = u;
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) == 0 ||
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) == 0) {
    start_connect(u, (struct sockaddr *)&ss);
    return u;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  u->gai.data = u;
  u->state = WH_US_RESOLVING;
  if (uv_getaddrinfo(&w->loop, &u->gai, on_resolved, host, NULL, &hints) == 0) {
    u->gai_pending = true;
  } else {
    wh_upstream_close(u);
    wh_conn_up_failed(c, 502, false);
  }
  return u;
}

wh_upstream *wh_upstream_from_pool(wh_worker *w, const char *key) {
  wh_pool_entry *e = wh_pool_get(&w->pool, key, wh_worker_now(w));
  if (!e)
    return NULL;
  wh_upstream *u = (wh_upstream *)((char *)e - offsetof(wh_upstream, pe));
  u->state = WH_US_ACTIVE;
  u->reused = true;
  return u;
}

void wh_upstream_begin(wh_upstream *u, wh_conn *c, bool head_request) {
  u->c = c;
  c->up = u;
  u->got_byte = false;
  u->msg_done = false;
  u->upgraded = false;
  u->no_reuse = false;
  u->bp_paused = false;
  u->is_head_req = head_request;
  u->status = 0;
  llhttp_init(&u->parser, HTTP_RESPONSE, settings());
  u->parser.data = u;
  wh_head_reset(&u->head);
  wh_upstream_update_reading(u);
}

void wh_upstream_release(wh_upstream *u, bool reusable, size_t cap, uint64_t idle_ms) {
  if (u->c && u->c->up == u)
    u->c->up = NULL;
  u->c = NULL;
  if (u->state != WH_US_ACTIVE)
    return;
  if (!reusable || u->no_reuse || !u->msg_done || !llhttp_should_keep_alive(&u->parser) ||
      u->tcp.write_queue_size > 0 || u->w->stopping) {
    wh_upstream_close(u);
    return;
  }
  u->state = WH_US_IDLE;
  u->bp_paused = false;
  if (!wh_pool_put(&u->w->pool, u->key, &u->pe, cap, wh_worker_now(u->w), idle_ms)) {
    wh_upstream_close(u);
    return;
  }
  wh_headers_clear(&u->hdrs);
  wh_upstream_update_reading(u);
}
