/* Client connections: parsing (llhttp, strict, one request at a time),
 * validation, routing, middlewares, local answers, and the client half of a
 * proxied exchange. State machine and rules: docs/internals/proxy.md. */
#include "lib/proxy/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/http/compressor.h"
#include "lib/http/exchange.h"
#include "lib/http/forwarded.h"
#include "lib/http/path.h"
#include "lib/net/proxy_protocol.h"
#include "lib/observe/observe.h"
#include "lib/proxy/upstream.h"
#include "lib/router/route_table.h"
#include "lib/tls/acme_alpn.h"
#include "lib/tls/certificate.h"
#include "lib/tls/client.h"
#include "lib/tls/client_hello.h"
#include "lib/tls/server.h"
#include "lib/tls/tls_stream.h"

#include <openssl/ssl.h>
#include <time.h>

/* How long a closing connection may take to flush its last response and see
 * the peer's FIN before it is reset. */
#define WH_LINGER_MS 5000
/* shorter while draining, so that a peer that never closes its side cannot
 * hold the process for the full linger */
#define WH_DRAIN_LINGER_MS 500
#define WH_FREELIST_MAX 256
/* Pipelined bytes buffered while an exchange is in flight. */
#define WH_TAIL_MAX (64 * 1024)

/* ---- message heads ---- */

void wh_head_reset(wh_head *h) {
  h->len = 0;
  h->n = 0;
  h->url_off = h->url_len = 0;
  h->in_field = h->in_value = false;
  h->split_ok = false;
  h->err = 0;
}

void wh_head_free(wh_head *h) {
  free(h->buf);
  free(h->f);
  memset(h, 0, sizeof(*h));
}

static int head_append(wh_head *h, const char *at, size_t len) {
  if (h->len + len > WH_HEAD_MAX_BYTES) {
    h->err = 431;
    return -1;
  }
  if (h->len + len > h->cap) {
    size_t cap = h->cap ? h->cap : 1024;
    while (cap < h->len + len)
      cap *= 2;
    char *b = realloc(h->buf, cap);
    if (!b) {
      h->err = 500;
      return -1;
    }
    h->buf = b;
    h->cap = cap;
  }
  memcpy(h->buf + h->len, at, len);
  h->len += len;
  return 0;
}

int wh_head_url(wh_head *h, const char *at, size_t len) {
  if (h->url_len == 0)
    h->url_off = (uint32_t)h->len;
  if (head_append(h, at, len) < 0)
    return -1;
  h->url_len += (uint32_t)len;
  return 0;
}

int wh_head_field(wh_head *h, const char *at, size_t len) {
  if (!h->in_field) {
    if (h->n >= WH_HEAD_MAX_FIELDS) {
      h->err = 431;
      return -1;
    }
    h->in_field = true;
    h->cur.no = (uint32_t)h->len;
    h->cur.nl = 0;
  }
  if (head_append(h, at, len) < 0)
    return -1;
  h->cur.nl += (uint32_t)len;
  return 0;
}

int wh_head_field_done(wh_head *h) {
  h->in_field = false;
  /* llhttp accepts "Host : x"; HARDENING 4 does not. */
  if (h->cur.nl == 0 || h->buf[h->cur.no + h->cur.nl - 1] == ' ' ||
      h->buf[h->cur.no + h->cur.nl - 1] == '\t') {
    h->err = 400;
    return -1;
  }
  h->cur.vo = (uint32_t)h->len;
  h->cur.vl = 0;
  h->in_value = true;
  h->split_ok = true;
  return 0;
}

int wh_head_value(wh_head *h, const char *at, size_t len) {
  if (h->cur.vl > 0 && !h->split_ok) {
    /* A second span of the same value inside one read: llhttp saw an
     * obs-fold (HARDENING 4). */
    h->err = 400;
    return -1;
  }
  if (head_append(h, at, len) < 0)
    return -1;
  h->cur.vl += (uint32_t)len;
  h->split_ok = h->exec_end && at + len == h->exec_end;
  return 0;
}

int wh_head_value_done(wh_head *h) {
  if (h->n == h->fcap) {
    size_t cap = h->fcap ? h->fcap * 2 : 16;
    wh_hspan *f = realloc(h->f, cap * sizeof(*f));
    if (!f) {
      h->err = 500;
      return -1;
    }
    h->f = f;
    h->fcap = cap;
  }
  for (uint32_t i = 0; i < h->cur.vl; i++) {
    unsigned char ch = (unsigned char)h->buf[h->cur.vo + i];
    if (ch == 0 || ch == '\r' || ch == '\n') {
      h->err = 400;
      return -1;
    }
  }
  /* trailing whitespace is not part of the value; after a framing header it
   * is refused, never read as chunked (HARDENING 3) */
  uint32_t vl = h->cur.vl;
  while (h->cur.vl > 0 &&
         (h->buf[h->cur.vo + h->cur.vl - 1] == ' ' || h->buf[h->cur.vo + h->cur.vl - 1] == '\t'))
    h->cur.vl--;
  if (vl != h->cur.vl && h->cur.nl == 17 &&
      strncasecmp(h->buf + h->cur.no, "Transfer-Encoding", 17) == 0) {
    h->err = 400;
    return -1;
  }
  h->f[h->n++] = h->cur;
  h->in_value = false;
  return 0;
}

int wh_head_to_headers(const wh_head *h, wh_headers *hs) {
  wh_headers_clear(hs);
  for (size_t i = 0; i < h->n; i++) {
    const wh_hspan *s = &h->f[i];
    if (wh_headers_add(hs, h->buf + s->no, s->nl, h->buf + s->vo, s->vl) < 0)
      return WH_ENOMEM;
  }
  return 0;
}

/* ---- writing ---- */

typedef struct wh_wbuf {
  uv_write_t req;
  wh_io_done_fn done;
  void *owner;
  char data[];
} wh_wbuf;

static void on_io_written(uv_write_t *req, int status) {
  wh_wbuf *b = (wh_wbuf *)req;
  wh_io_done_fn done = b->done;
  void *owner = b->owner;
  free(b);
  if (done)
    done(owner, status);
}

int wh_io_write(uv_tcp_t *t, const uv_buf_t *bufs, unsigned n, wh_io_done_fn done, void *owner) {
  size_t total = 0;
  for (unsigned i = 0; i < n; i++)
    total += bufs[i].len;
  if (total == 0)
    return 0;
  size_t sent = 0;
  if (t->write_queue_size == 0) {
    int rc = uv_try_write((uv_stream_t *)t, bufs, n);
    if (rc >= 0)
      sent = (size_t)rc;
    else if (rc != UV_EAGAIN)
      return rc;
  }
  if (sent == total)
    return 0;
  wh_wbuf *b = malloc(sizeof(*b) + (total - sent));
  if (!b)
    return UV_ENOMEM;
  size_t off = 0, skip = sent;
  for (unsigned i = 0; i < n; i++) {
    size_t len = bufs[i].len;
    if (skip >= len) {
      skip -= len;
      continue;
    }
    memcpy(b->data + off, bufs[i].base + skip, len - skip);
    off += len - skip;
    skip = 0;
  }
  b->done = done;
  b->owner = owner;
  uv_buf_t one = uv_buf_init(b->data, (unsigned)off);
  int rc = uv_write(&b->req, (uv_stream_t *)t, &one, 1, on_io_written);
  if (rc < 0) {
    free(b);
    return rc;
  }
  return 0;
}

/* ---- lifetime ---- */

static void conn_reset_exchange(wh_conn *c);
static void unpark(wh_conn *c);
static void on_parked(uv_timer_t *t);
typedef struct wh_parked wh_parked;
#define WH_BODY_TOO_BIG (-1000) /* send_up: over buffering's maxRequestBodyBytes */
/* buffering without maxRequestBodyBytes: bodies are held in memory, so a
 * bound still applies (Traefik spills to disk past memRequestBodyBytes) */
#define WH_BUFFER_MAX ((size_t)64 << 20)
static void pending_orphan(wh_conn *c);
static void retry_cancel(wh_conn *c);
static void parser_resume(wh_conn *c);
static int send_up(wh_conn *c, const uv_buf_t *bufs, unsigned n);

/* The 16 KiB buffers of the first bytes (ClientHello reader, read-ahead)
 * are lent by the worker, one spare of each kept: a handshake per
 * connection then allocates nothing for them. */
#define WH_HELLO_BUF (WH_CH_MAX > WH_PP_MAX_HEADER ? WH_CH_MAX : WH_PP_MAX_HEADER)

static char *hello_take(wh_worker *w) {
  char *b = w->spare_hello;
  w->spare_hello = NULL;
  return b ? b : malloc(WH_HELLO_BUF);
}

static void hello_put(wh_worker *w, char *b) {
  if (b && !w->spare_hello)
    w->spare_hello = b;
  else
    free(b);
}

static wh_ch_reader *chr_take(wh_worker *w) {
  wh_ch_reader *r = w->spare_chr;
  w->spare_chr = NULL;
  return r ? r : malloc(sizeof(*r));
}

static void chr_put(wh_worker *w, wh_ch_reader *r) {
  if (r && !w->spare_chr)
    w->spare_chr = r;
  else
    free(r);
}

void wh_conn_free_spares(wh_worker *w) {
  free(w->spare_hello);
  free(w->spare_chr);
  w->spare_hello = NULL;
  w->spare_chr = NULL;
}

static void conn_free_transport(wh_conn *c) {
  if (c->tls) {
    wh_tls_stream_free(c->tls);
    free(c->tls);
    c->tls = NULL;
  }
  chr_put(c->w, c->chr);
  c->chr = NULL;
  hello_put(c->w, c->hello);
  c->hello = NULL;
  c->hello_len = 0;
  free(c->tls_pol);
  c->tls_pol = NULL;
  wh_snapshot_unref(c->tcp_snap);
  c->tcp_snap = NULL;
  c->tcp_target = NULL;
  for (unsigned i = 0; i < c->nmw_holds; i++)
    c->mw_ends[i](c->mw_holds[i]);
  c->nmw_holds = 0;
}

static void on_conn_closed(uv_handle_t *h) {
  wh_conn *c = h->data;
  wh_worker *w = c->w;
  if (c->prev)
    c->prev->next = c->next;
  else
    w->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  atomic_fetch_sub(&w->nconns, 1);
  conn_reset_exchange(c);
  conn_free_transport(c);
  if (c->obs_counted)
    wh_observe_conn(wh_observe_global(), w->index, c->ep->index, -1);
  if (c->obs_resp_hdrs) {
    wh_headers_free(c->obs_resp_hdrs);
    free(c->obs_resp_hdrs);
    c->obs_resp_hdrs = NULL;
  }
  if (w->nfree < WH_FREELIST_MAX && !w->stopping) {
    /* Buffers keep their capacity for the next connection. */
    c->next = w->free_conns;
    w->free_conns = c;
    w->nfree++;
    return;
  }
  wh_head_free(&c->head);
  wh_headers_free(&c->hdrs);
  wh_strbuf_free(&c->up_head);
  wh_strbuf_free(&c->out);
  wh_strbuf_free(&c->pend);
  free(c->tail);
  free(c->hn);
  free(c->hv);
  free(c);
}

/* ---- per-request buffers ---- */

/* The buffers a connection uses only while an exchange is in flight. They
 * go back to the worker when the exchange ends (an idle keep-alive
 * connection then costs its struct alone, HARDENING 26 and the 2 KiB per idle
 * connection goal) and the next request on any connection takes a set back,
 * so the steady state allocates nothing. */
typedef struct wh_conn_bufs {
  char *head_buf;
  size_t head_cap;
  wh_hspan *head_f;
  size_t head_fcap;
  wh_header *hdrs_v;
  size_t hdrs_cap;
  wh_strbuf up_head, out;
  char **hn, **hv;
  size_t hcap;
} wh_conn_bufs;

#define WH_SPARE_MAX 256

static void bufs_free(wh_conn_bufs *b) {
  free(b->head_buf);
  free(b->head_f);
  free(b->hdrs_v);
  wh_strbuf_free(&b->up_head);
  wh_strbuf_free(&b->out);
  free(b->hn);
  free(b->hv);
}

static void conn_release_bufs(wh_conn *c) {
  wh_worker *w = c->w;
  if (!c->head.buf && !c->head.f && !c->hdrs.v && !c->up_head.data && !c->out.data && !c->hn)
    return;
  wh_conn_bufs b = {
      .head_buf = c->head.buf,
      .head_cap = c->head.cap,
      .head_f = c->head.f,
      .head_fcap = c->head.fcap,
      .hdrs_v = c->hdrs.v,
      .hdrs_cap = c->hdrs.cap,
      .up_head = c->up_head,
      .out = c->out,
      .hn = c->hn,
      .hv = c->hv,
      .hcap = c->hcap,
  };
  c->head.buf = NULL;
  c->head.cap = c->head.len = 0;
  c->head.f = NULL;
  c->head.fcap = c->head.n = 0;
  c->hdrs.v = NULL;
  c->hdrs.cap = c->hdrs.n = 0;
  memset(&c->up_head, 0, sizeof(c->up_head));
  memset(&c->out, 0, sizeof(c->out));
  c->hn = c->hv = NULL;
  c->hcap = 0;
  if (!w->spare)
    w->spare = calloc(WH_SPARE_MAX, sizeof(*w->spare));
  if (w->spare && w->nspare < WH_SPARE_MAX)
    w->spare[w->nspare++] = b;
  else
    bufs_free(&b);
}

static void conn_acquire_bufs(wh_conn *c) {
  wh_worker *w = c->w;
  if (c->head.buf || c->head.f || c->hdrs.v || c->up_head.data || c->out.data || c->hn ||
      w->nspare == 0)
    return;
  wh_conn_bufs b = w->spare[--w->nspare];
  c->head.buf = b.head_buf;
  c->head.cap = b.head_cap;
  c->head.f = b.head_f;
  c->head.fcap = b.head_fcap;
  c->hdrs.v = b.hdrs_v;
  c->hdrs.cap = b.hdrs_cap;
  c->up_head = b.up_head;
  c->up_head.len = 0;
  c->out = b.out;
  c->out.len = 0;
  c->hn = b.hn;
  c->hv = b.hv;
  c->hcap = b.hcap;
}

void wh_conn_free_list(wh_worker *w) {
  for (size_t i = 0; i < w->nspare; i++)
    bufs_free(&w->spare[i]);
  free(w->spare);
  w->spare = NULL;
  w->nspare = 0;
  while (w->free_conns) {
    wh_conn *c = w->free_conns;
    w->free_conns = c->next;
    wh_head_free(&c->head);
    wh_headers_free(&c->hdrs);
    wh_strbuf_free(&c->up_head);
    wh_strbuf_free(&c->out);
    wh_strbuf_free(&c->pend);
    free(c->tail);
    free(c->hn);
    free(c->hv);
    free(c);
  }
  w->nfree = 0;
}

static void detach_upstream(wh_conn *c, bool reusable) {
  wh_upstream *u = c->up;
  if (!u)
    return;
  c->up = NULL;
  if (c->tunnel || !reusable)
    wh_upstream_close(u);
  else
    wh_upstream_release(u, true, c->max_idle, c->idle_conn_ms);
}

static void conn_destroy(wh_conn *c, bool reset) {
  if (c->dead)
    return;
  c->dead = true;
  detach_upstream(c, false);
  if (c->reading)
    uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = false;
  /* A reset tells the client the response is incomplete, even when it was
   * close-delimited (HARDENING 32). */
  if (!reset || c->closing || uv_tcp_close_reset(&c->tcp, on_conn_closed) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

void wh_conn_abort(wh_conn *c) {
  conn_destroy(c, true);
}

void wh_conn_destroy(wh_conn *c) {
  conn_destroy(c, false);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  wh_conn *c = req->data;
  if (status == UV_ECANCELED || c->dead)
    return;
  c->shutdown_done = true;
  if (status < 0 || c->got_eof)
    conn_destroy(c, false);
}

/* Graceful close after everything queued: FIN, then keep draining the
 * peer's bytes (so that unread request bytes do not turn the close into a
 * reset that could destroy the response) until EOF or the linger deadline. */
void wh_conn_close(wh_conn *c) {
  if (c->closing || c->dead)
    return;
  c->closing = true;
  detach_upstream(c, false);
  c->tail_len = 0;
  c->bp_paused = false;
  wh_conn_close_notify(c);
  c->sreq.data = c;
  if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
    conn_destroy(c, false);
    return;
  }
  c->rd_kind = WH_RD_LINGER;
  c->rd_deadline = wh_worker_now(c->w) + (c->w->draining ? WH_DRAIN_LINGER_MS : WH_LINGER_MS);
  c->up_deadline = c->wr_deadline = 0;
  wh_conn_update_reading(c);
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  wh_conn *c = h->data;
  *buf = uv_buf_init(c->w->rbuf, sizeof(c->w->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

void wh_conn_update_reading(wh_conn *c) {
  if (c->dead)
    return;
  bool want;
  if (c->closing)
    want = !c->got_eof;
  else if (c->tunnel)
    want = !c->bp_paused && !c->tunnel_eof_down;
  else if (c->tcp_mode)
    want = c->pend.len < WH_BACKPRESSURE_BYTES && !c->got_eof; /* dialling */
  else
    /* Keep reading while an exchange is in flight: pipelined bytes wait in
     * the tail (bounded), and a socket that stays armed costs no epoll_ctl
     * per request. */
    want = !c->bp_paused && c->tail_len < WH_TAIL_MAX && !c->got_eof;
  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
      c->reading = true;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
  }
}

/* Bytes that arrive while an exchange is in flight go after the tail. */
static void append_tail(wh_conn *c, const char *data, size_t len) {
  if (c->tail_len + len > c->tail_cap) {
    size_t cap = c->tail_cap ? c->tail_cap : 4096;
    while (cap < c->tail_len + len)
      cap *= 2;
    char *t = realloc(c->tail, cap);
    if (!t) {
      conn_destroy(c, false);
      return;
    }
    c->tail = t;
    c->tail_cap = cap;
  }
  memcpy(c->tail + c->tail_len, data, len);
  c->tail_len += len;
}

static void save_tail(wh_conn *c, const char *data, size_t len) {
  if (len == 0) {
    c->tail_len = 0;
    return;
  }
  if (len > c->tail_cap) {
    /* data may point into the current tail: allocate fresh, then copy */
    char *t = malloc(len);
    if (!t) {
      conn_destroy(c, false);
      return;
    }
    memcpy(t, data, len);
    free(c->tail);
    c->tail = t;
    c->tail_cap = len;
  } else {
    memmove(c->tail, data, len);
  }
  c->tail_len = len;
}

/* ---- client writes ---- */

static void conn_write_done(void *owner, int status) {
  wh_conn *c = owner;
  if (status == UV_ECANCELED || c->dead)
    return;
  if (status < 0) {
    conn_destroy(c, false);
    return;
  }
  if (c->tcp.write_queue_size <= WH_BACKPRESSURE_BYTES)
    wh_conn_client_drained(c);
}

/* Sends what the TLS session produced (records, alerts, handshake). */
int wh_io_write_tls(uv_tcp_t *t, wh_tls_stream *s, wh_io_done_fn done, void *owner) {
  const char *data;
  size_t n = wh_tls_stream_output(s, &data);
  if (!n)
    return 0;
  uv_buf_t b = uv_buf_init((char *)data, (unsigned)n);
  int rc = wh_io_write(t, &b, 1, done, owner);
  wh_tls_stream_consumed(s); /* wh_io_write copied what it did not send */
  return rc;
}

static int tls_flush(wh_conn *c) {
  return wh_io_write_tls(&c->tcp, c->tls, conn_write_done, c);
}

static int tls_write(wh_conn *c, const uv_buf_t *bufs, unsigned n) {
  if (wh_tls_stream_writev(c->tls, (const struct iovec *)bufs, n, c->w->tls_out,
                           sizeof(c->w->tls_out)) < 0)
    return UV_EPROTO;
  return tls_flush(c);
}

void wh_conn_close_notify(wh_conn *c) {
  if (c->tls && !c->dead && c->tls->established) {
    wh_tls_stream_shutdown(c->tls);
    (void)tls_flush(c);
  }
}

static int conn_write(wh_conn *c, const uv_buf_t *bufs, unsigned n) {
  if (c->dead)
    return UV_ECANCELED;
  int rc = c->tls ? tls_write(c, bufs, n) : wh_io_write(&c->tcp, bufs, n, conn_write_done, c);
  if (rc < 0) {
    conn_destroy(c, false);
    return rc;
  }
  if (c->up && c->tcp.write_queue_size > WH_BACKPRESSURE_BYTES && !c->up->bp_paused) {
    c->up->bp_paused = true;
    wh_upstream_update_reading(c->up);
  }
  return 0;
}

int wh_conn_write(wh_conn *c, const uv_buf_t *bufs, unsigned n) {
  return conn_write(c, bufs, n);
}

void wh_conn_client_drained(wh_conn *c) {
  if (c->up && c->up->bp_paused) {
    c->up->bp_paused = false;
    wh_upstream_update_reading(c->up);
  }
}

/* ---- local responses ---- */

static void send_local(wh_conn *c, wh_http_resp *resp) {
  if (c->req_body && !c->req_done)
    c->close_after = true; /* the rest of the body is not read */
  wh_resp_edits_apply_local(c->edits, c->nedits, resp);
  c->status = resp->status ? resp->status : 200;
  c->obs_down_bytes = c->is_head ? 0 : resp->body.len;
  if (c->obs_t0 && c->obs_resp_hdrs)
    for (size_t i = 0; i < resp->nheaders; i++)
      wh_headers_add(c->obs_resp_hdrs, resp->hdr_names[i], strlen(resp->hdr_names[i]),
                     resp->hdr_values[i], strlen(resp->hdr_values[i]));
  wh_resp_serialize(&c->out, resp, c->is_head, c->http_minor, c->close_after, wh_worker_date(c->w));
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  c->head_sent = true;
  c->resp_done = true;
  c->local = true;
  c->wr_deadline = 0;
  conn_write(c, &b, 1);
}

static void send_status(wh_conn *c, int status) {
  wh_http_resp r;
  wh_http_resp_init(&r);
  if (status == 404) {
    wh_http_resp_text(&r, 404, "404 page not found\n");
    wh_http_resp_header(&r, "X-Content-Type-Options", "nosniff");
  } else if (status == 503) {
    wh_http_resp_text(&r, 503, "no available server\n");
  } else {
    wh_resp_status_text(&r, status);
  }
  send_local(c, &r);
  wh_http_resp_free(&r);
}

/* Protocol errors: answer (when nothing was answered yet) and close; the rest
 * of the pipeline is discarded (HARDENING 12). */
static void fail_and_close(wh_conn *c, int status) {
  detach_upstream(c, false);
  if (!c->head_sent) {
    c->close_after = true;
    send_status(c, status);
    wh_conn_close(c);
  } else {
    conn_destroy(c, true);
  }
}

/* ---- exchange lifecycle ---- */

static void obs_emit(wh_conn *c);

static void conn_reset_exchange(wh_conn *c) {
  if (c->obs_t0)
    obs_emit(c); /* before anything the record borrows is released */
  unpark(c);
  c->holding = false;
  c->buffer_cap = 0;
  c->resp_max = 0;
  c->resp_bytes = 0;
  c->resp_over = false;
  free(c->errp_service);
  c->errp_service = NULL;
  c->errp_status = NULL;
  c->errp_rewrites = NULL;
  c->errp_query = NULL;
  c->errp_code = 0;
  c->errp_active = c->errp_started = false;
  pending_orphan(c);
  retry_cancel(c);
  wh_compressor_free(c->cz);
  c->cz = NULL;
  c->cz_enc = 0;
  wh_strbuf_free(&c->czbuf); /* an idle connection keeps no exchange buffer */
  c->retry_left = 0;
  c->retry_n = 0;
  c->retry_ms = 0;
  /* Middlewares' end callbacks run before the snapshot (their
   * configuration lives there) is released. */
  for (size_t i = 0; i < c->nends; i++)
    c->ends[i].fn(c->ends[i].arg, c->resp_done ? c->status : 0);
  free(c->ends);
  c->ends = NULL;
  c->nends = 0;
  wh_resp_edits_free(c->edits, c->nedits);
  c->edits = NULL;
  c->nedits = 0;
  c->status = 0;
  wh_snapshot_unref(c->snap);
  c->snap = NULL;
  free(c->host);
  c->host = NULL;
  free(c->set_cookie);
  c->set_cookie = NULL;
  c->lb = NULL;
  c->server = NULL;
  c->up_tls = NULL;
  c->in_msg = c->req_done = c->resp_done = c->head_sent = c->local = c->head_pending = false;
  c->is_head = c->req_chunked = c->req_body = c->upgrade_ws = c->upgrade_other = false;
  c->body_sent = c->retried = false;
  c->resp_mode = WH_RESP_NONE;
  c->up_deadline = c->wr_deadline = 0;
  c->up_kind = WH_UP_NONE;
  c->pend.len = 0;
  /* Reading was paused for an upstream that never took the body (it
   * failed while connecting): the next request must still be read. */
  if (!c->tcp_mode && !c->tunnel)
    c->bp_paused = false;
  c->err_status = 0;
  c->chunk_end_here = c->chunk_has_data = false;
  c->crlf_seen = 0;
  wh_headers_clear(&c->hdrs);
  c->obs_t0 = c->obs_up_t0 = c->obs_up_t1 = 0;
  c->obs_router = NULL;
  free(c->obs_user);
  c->obs_user = NULL;
  free(c->obs_xff);
  c->obs_xff = NULL;
  c->obs_xff_taken = false;
  c->obs_req_bytes = c->obs_origin_bytes = c->obs_down_bytes = 0;
  c->obs_origin_status = 0;
  c->obs_sse = false;
  c->obs_grpc[0] = '\0';
  if (c->obs_resp_hdrs)
    wh_headers_clear(c->obs_resp_hdrs);
}

/* Both halves are done: release the upstream, then close or wait for the
 * next request. The caller feeds pipelined bytes, if any. */
static void exchange_end(wh_conn *c) {
  detach_upstream(c, c->req_done && !c->upgrade_ws && !c->upgrade_other);
  bool close = c->close_after || c->w->draining;
  conn_reset_exchange(c);
  c->requests++;
  if (close) {
    wh_conn_close(c);
    return;
  }
  c->close_after = false;
  conn_release_bufs(c);
  c->rd_kind = WH_RD_IDLE;
  c->rd_deadline = c->ep->idle_ms ? wh_worker_now(c->w) + c->ep->idle_ms : 0;
  parser_resume(c);
}

/* The record of the exchange that ends (lib/observe/xrec.h); everything it
 * points to is still alive here. */
static void obs_emit(wh_conn *c) {
  wh_observe *o = wh_observe_global();
  if (!o)
    return;
  const wh_rt_elem *router = c->obs_router;
  uint64_t now = uv_hrtime();
  char tbuf[2048];
  const wh_head *h = &c->head;
  size_t tl = h->url_len;
  char *theap = NULL;
  const char *target = tbuf;
  if (tl >= sizeof(tbuf)) {
    theap = wh_strndup(h->buf + h->url_off, tl);
    target = theap ? theap : "";
  } else {
    memcpy(tbuf, h->buf + h->url_off, tl);
    tbuf[tl] = '\0';
  }
  char ver[8] = "";
  const char *cipher = NULL;
  char subject[256];
  const char *client_subject = NULL;
  if (c->tls && c->tls->ssl) {
    const char *v = SSL_get_version(c->tls->ssl); /* "TLSv1.3" → "1.3", as Traefik prints it */
    snprintf(ver, sizeof(ver), "%s", strncmp(v, "TLSv", 4) == 0 ? v + 4 : v);
    const SSL_CIPHER *ci = SSL_get_current_cipher(c->tls->ssl);
    cipher = ci ? SSL_CIPHER_standard_name(ci) : NULL;
    /* Go's pkix.Name.String(): RFC 2253, most specific RDN first */
    X509 *peer = SSL_get0_peer_certificate(c->tls->ssl);
    if (peer && wh_x509_name_rfc2253(X509_get_subject_name(peer), subject, sizeof(subject)))
      client_subject = subject;
  }
  wh_xproto proto = WH_XPROTO_HTTP;
  const char *ct = wh_headers_get(&c->hdrs, "Content-Type");
  if (c->upgrade_ws)
    proto = WH_XPROTO_WEBSOCKET;
  else if (ct && strncasecmp(ct, "application/grpc-web", 20) == 0)
    proto = WH_XPROTO_GRPC_WEB;
  else if (ct && strncasecmp(ct, "application/grpc", 16) == 0)
    proto = WH_XPROTO_GRPC;
  else if (c->obs_sse)
    proto = WH_XPROTO_SSE;
  const char *svc = router ? router->service_ref : NULL;
  size_t sl = svc ? strlen(svc) : 0;
  int status = c->status;
  if (!c->resp_done && !c->head_sent && !status)
    status = 499; /* the client went away first (Traefik's Client Closed Request) */
  wh_xrec r = {
      .start_unix_ns = c->obs_unix,
      .duration_ns = now - c->obs_t0,
      .origin_duration_ns = c->obs_up_t0 ? (c->obs_up_t1 ? c->obs_up_t1 : now) - c->obs_up_t0 : 0,
      .entrypoint = c->ep->name,
      .peer = (const struct sockaddr *)&c->peer,
      .fwd_trusted = c->obs_trusted, /* decided once, at dispatch */
      .username = c->obs_user,
      .method = llhttp_method_name((llhttp_method_t)c->parser.method),
      .target = target,
      .http_major = 1,
      .http_minor = c->http_minor,
      .tls = c->tls != NULL,
      .tls_version = c->tls ? ver : NULL,
      .tls_cipher = cipher,
      .tls_client_subject = client_subject,
      .host = c->host,
      .req_headers = &c->hdrs,
      .xff = c->obs_xff_taken ? c->obs_xff : wh_headers_get(&c->hdrs, "X-Forwarded-For"),
      .req_bytes = c->obs_req_bytes,
      .protocol = proto,
      .router = router ? router->name : NULL,
      .service = svc,
      .service_url = c->server ? c->server->url : NULL,
      .service_addr = c->server ? c->server->hostport : NULL,
      .retries = c->retry_n,
      .internal = sl > 9 && strcmp(svc + sl - 9, "@internal") == 0,
      .origin_status = c->obs_origin_status,
      .origin_bytes = c->obs_origin_bytes,
      .status = status,
      .resp_bytes = c->obs_down_bytes,
      .grpc_status = c->obs_grpc[0] ? c->obs_grpc : NULL,
      .resp_headers = c->obs_resp_hdrs,
      .conn_request_index = c->requests + 1,
  };
  wh_observe_exchange(o, c->w->index, &r);
  free(theap);
}

static void handle_parse_error(wh_conn *c, llhttp_errno_t e) {
  int status = c->err_status ? c->err_status : c->head.err ? c->head.err : 400;
  (void)e;
  fail_and_close(c, status);
}

/* Parses data (the read buffer or the tail); pipelined requests are taken
 * one at a time: the parser pauses at each message end until the response is
 * complete, and unparsed bytes wait in the tail. */
/* The two bytes before pos (which may start in the previous buffer). */
static bool crlf_before(const wh_conn *c, const char *data, const char *pos) {
  char b[2];
  size_t in = (size_t)(pos - data);
  if (in >= 2) {
    b[0] = pos[-2];
    b[1] = pos[-1];
  } else if (in == 1) {
    if (c->nlast < 1)
      return false;
    b[0] = c->last2[1];
    b[1] = pos[-1];
  } else {
    if (c->nlast < 2)
      return false;
    b[0] = c->last2[0];
    b[1] = c->last2[1];
  }
  return b[0] == '\r' && b[1] == '\n';
}

static void remember_tail_bytes(wh_conn *c, const char *data, size_t len) {
  if (c->chunk_end_here) {
    size_t after = (size_t)(data + len - c->chunk_end);
    c->crlf_seen = after > 2 ? 2 : after;
    memcpy(c->crlf_buf, c->chunk_end, c->crlf_seen);
    c->chunk_end_here = false;
  }
  if (len >= 2) {
    c->last2[0] = data[len - 2];
    c->last2[1] = data[len - 1];
    c->nlast = 2;
  } else if (len == 1) {
    c->last2[0] = c->nlast ? c->last2[1] : 0;
    c->last2[1] = data[0];
    c->nlast = c->nlast ? 2 : 1;
  }
}

/* The end of a chunked request body, sent only once the parser's view of
 * the message end has been checked (see crlf_before). */
static void send_req_end(wh_conn *c) {
  if (c->req_chunked && (c->up || c->holding) && !c->local && !c->resp_done) {
    /* last chunk, the trailers as received, end */
    wh_strbuf *o = &c->out;
    o->len = 0;
    wh_strbuf_puts(o, "0\r\n");
    for (size_t i = 0; i < c->head.n; i++) {
      const wh_hspan *s = &c->head.f[i];
      wh_strbuf_append(o, c->head.buf + s->no, s->nl);
      wh_strbuf_puts(o, ": ");
      wh_strbuf_append(o, c->head.buf + s->vo, s->vl);
      wh_strbuf_puts(o, "\r\n");
    }
    wh_strbuf_puts(o, "\r\n");
    if (o->data) {
      uv_buf_t b = uv_buf_init(o->data, (unsigned)o->len);
      send_up(c, &b, 1);
    }
  }
}

static void parser_resume(wh_conn *c) {
  llhttp_errno_t e = llhttp_get_errno(&c->parser);
  if (e == HPE_PAUSED)
    llhttp_resume(&c->parser);
  else if (e == HPE_PAUSED_UPGRADE)
    llhttp_resume_after_upgrade(&c->parser);
}

static void conn_feed(wh_conn *c, const char *data, size_t len) {
  while (len > 0 && !c->dead && !c->closing) {
    c->in_exec = true;
    c->head.exec_end = data + len;
    c->exec_start = data;
    llhttp_errno_t e = llhttp_execute(&c->parser, data, len);
    c->in_exec = false;
    if (c->dead || c->closing)
      return;
    if (e == HPE_OK) {
      remember_tail_bytes(c, data, len);
      c->tail_len = 0;
      break;
    }
    const char *pos = llhttp_get_error_pos(&c->parser);
    size_t rest = pos ? (size_t)(data + len - pos) : 0;
    if (e == HPE_PAUSED_UPGRADE && !c->in_msg) {
      /* the parser stopped after a request that was not tunnelled */
      llhttp_resume_after_upgrade(&c->parser);
      data = pos;
      len = rest;
      continue;
    }
    if (e == HPE_PAUSED || e == HPE_PAUSED_UPGRADE) {
      if (c->req_chunked && c->req_done && !crlf_before(c, data, pos)) {
        handle_parse_error(c, HPE_INVALID_CHUNK_SIZE);
        return;
      }
      remember_tail_bytes(c, data, (size_t)(pos - data));
      if (c->req_done && c->req_chunked)
        send_req_end(c);
      if (e == HPE_PAUSED_UPGRADE && !c->req_done)
        c->req_done = true;
      if (e == HPE_PAUSED_UPGRADE && c->upgrade_ws && c->resp_done)
        c->close_after = true; /* refused locally: the bytes after it are not HTTP */
      if (c->req_done && c->resp_done && !c->tunnel) {
        exchange_end(c);
        data = pos;
        len = rest;
        continue;
      }
      save_tail(c, pos, rest);
      break;
    }
    handle_parse_error(c, e);
    return;
  }
  if (len == 0)
    c->tail_len = 0;
  wh_conn_update_reading(c);
}

/* After an asynchronous end of exchange: go on with the pipeline. */
static void conn_resume(wh_conn *c) {
  if (c->dead || c->closing)
    return;
  if (c->tail_len) {
    size_t n = c->tail_len;
    c->tail_len = 0;
    /* feeding the tail in place: conn_feed only ever moves it forward */
    c->tail_len = n;
    char *t = c->tail;
    c->tail_len = 0;
    conn_feed(c, t, n);
    if (!c->dead && !c->closing && c->got_eof && !c->in_msg && c->tail_len == 0)
      wh_conn_close(c);
    return;
  }
  if (c->got_eof && !c->in_msg) {
    wh_conn_close(c); /* the client half-closed: nothing more will come */
    return;
  }
  wh_conn_update_reading(c);
}

static void maybe_finish(wh_conn *c) {
  if (c->in_exec || !c->req_done || !c->resp_done || c->tunnel)
    return;
  exchange_end(c);
  conn_resume(c);
}

/* Plaintext bytes (nread > 0, from the socket or from the TLS session) or
 * the end of the client's stream (nread < 0). */
static void on_plain(wh_conn *c, ssize_t nread, const char *data) {
  if (c->dead)
    return;
  if (nread < 0) {
    c->got_eof = true;
    if (nread == UV_EOF && !c->tunnel && !c->closing && c->in_msg && c->req_done) {
      /* A half-close after a complete request: answer it, then close
       * (conn_resume sees got_eof once the exchange ends). */
      wh_conn_update_reading(c);
      return;
    }
    if (c->tunnel) {
      if (nread == UV_EOF)
        wh_tunnel_on_client_eof(c);
      else
        conn_destroy(c, false);
      return;
    }
    if (c->closing) {
      if (c->shutdown_done || nread != UV_EOF)
        conn_destroy(c, false);
      else
        wh_conn_update_reading(c);
      return;
    }
    if (nread != UV_EOF || !c->in_msg || c->head_sent) {
      /* nothing in progress, or a response is streaming: the client is gone */
      if (c->in_msg && c->head_sent && !c->resp_done)
        conn_destroy(c, false);
      else if (!c->in_msg)
        conn_destroy(c, false);
      else
        wh_conn_update_reading(c);
      return;
    }
    /* EOF in the middle of a request: nothing more can come */
    if (!c->req_done)
      conn_destroy(c, false);
    return;
  }
  if (c->closing)
    return; /* draining after the last response */
  if (c->tunnel) {
    wh_tunnel_on_client_data(c, data, (size_t)nread);
    return;
  }
  if (c->tcp_mode) {
    /* a TCP backend is being dialled: its bytes wait in pend (bounded) */
    if (wh_strbuf_append(&c->pend, data, (size_t)nread) < 0) {
      conn_destroy(c, false);
      return;
    }
    wh_conn_update_reading(c);
    return;
  }
  if ((c->in_msg && c->req_done) || c->tail_len) {
    /* the parser is paused until the response ends: keep the bytes */
    append_tail(c, data, (size_t)nread);
    wh_conn_update_reading(c);
    return;
  }
  conn_feed(c, data, (size_t)nread);
}

static void tls_failed(wh_conn *c) {
  if (wh_log_get_level() <= WH_LOG_DEBUG) {
    char why[160], ip[64];
    wh_addr_ip_string((const struct sockaddr *)&c->peer, ip, sizeof(ip));
    wh_log_debug("entry point %s: TLS handshake with %s failed: %s", c->ep->name, ip,
                 wh_tls_stream_reason(c->tls, why, sizeof(why)));
  }
  (void)tls_flush(c); /* the alert, when there is one */
  conn_destroy(c, false);
}

/* Ciphertext in: drive the session and hand every decrypted byte on. */
static void tls_input(wh_conn *c, const char *data, size_t len) {
  if (wh_tls_stream_feed(c->tls, data, len) < 0) {
    conn_destroy(c, false);
    return;
  }
  bool was_established = c->tls->established;
  for (;;) {
    ssize_t n = wh_tls_stream_read(c->tls, c->w->tls_plain, sizeof(c->w->tls_plain));
    if (n == WH_TLS_ERROR) {
      tls_failed(c);
      return;
    }
    if (tls_flush(c) < 0) {
      conn_destroy(c, false);
      return;
    }
    if (!was_established && c->tls->established) {
      was_established = true;
      c->rd_kind = WH_RD_FIRST; /* the handshake deadline ends; the request's starts */
      c->rd_deadline = c->ep->read_ms ? wh_worker_now(c->w) + c->ep->read_ms : 0;
      if (c->tcp_after_handshake) {
        c->tcp_after_handshake = false;
        wh_tcp_dial(c);
        if (c->dead)
          return;
      }
    }
    if (n == WH_TLS_AGAIN)
      return;
    if (n == WH_TLS_CLOSED) {
      on_plain(c, UV_EOF, NULL);
      return;
    }
    on_plain(c, n, c->w->tls_plain);
    if (c->dead)
      return;
  }
}

/* Starts the TLS session selected by the ClientHello and replays the bytes
 * read ahead into it. */
static void tls_begin(wh_conn *c, const wh_client_hello *ch) {
  const wh_snapshot *snap = c->w->current;
  if (!snap || !snap->tls) {
    conn_destroy(c, false);
    return;
  }
  char local[64] = "";
  struct sockaddr_storage ss;
  int alen = sizeof(ss);
  if (!ch->has_sni && wh_tls_server_has_ip_names(snap->tls) &&
      uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &alen) == 0)
    wh_addr_ip_string((const struct sockaddr *)&ss, local, sizeof(local));
  const wh_tls_policy *pol = NULL;
  SSL_CTX *ctx =
      wh_tls_server_ctx(snap->tls, c->ep->index, ch->has_sni ? ch->sni : NULL, local, &pol);
  if (!ctx) {
    /* sniStrict and no certificate for the name: refuse the handshake */
    wh_log_debug("entry point %s: no certificate for SNI \"%s\" (sniStrict)", c->ep->name, ch->sni);
    conn_destroy(c, false);
    return;
  }
  c->tls = calloc(1, sizeof(*c->tls));
  c->tls_pol = pol ? wh_strdup(pol->name) : NULL;
  if (!c->tls || !c->tls_pol || wh_tls_stream_init_server(c->tls, ctx) < 0) {
    conn_destroy(c, false);
    return;
  }
  if (c->tcp_after_handshake)
    wh_tls_alpn_for_tcp(c->tls->ssl);
  char *hello = c->hello;
  size_t n = c->hello_len;
  c->hello = NULL;
  c->hello_len = 0;
  tls_input(c, hello, n);
  hello_put(c->w, hello);
}

/* The first bytes of a connection: plaintext goes on at once; a TLS
 * ClientHello is read whole (bounded in size and time) to route by SNI. */
static void sniff_input(wh_conn *c, const char *data, size_t len);
static void conn_input(wh_conn *c, const char *data, size_t len);

/* A PROXY protocol header from a trusted peer: the client address it
 * carries replaces the socket's (for routing by ClientIP, X-Forwarded-For,
 * allow-lists), then the bytes after it are read as usual. */
static void proxy_header_input(wh_conn *c, const char *data, size_t len) {
  if (!c->hello && !(c->hello = hello_take(c->w))) {
    conn_destroy(c, false);
    return;
  }
  size_t take = len;
  if (c->hello_len + take > WH_PP_MAX_HEADER)
    take = WH_PP_MAX_HEADER - c->hello_len;
  memcpy(c->hello + c->hello_len, data, take);
  c->hello_len += take;
  wh_pp_result pr;
  wh_pp_status st = wh_pp_parse((const uint8_t *)c->hello, c->hello_len, &pr);
  if (st == WH_PP_MORE && take == len)
    return;
  if (st == WH_PP_BAD || st == WH_PP_MORE) {
    wh_log_debug("entry point %s: malformed PROXY protocol header", c->ep->name);
    conn_destroy(c, false);
    return;
  }
  size_t skip = 0;
  if (st == WH_PP_DONE) {
    skip = pr.header_len;
    if (!pr.local)
      memcpy(&c->peer, &pr.src, sizeof(c->peer));
  }
  /* what followed the header (and what did not fit in the buffer) */
  char *buf = c->hello;
  size_t n = c->hello_len;
  c->hello = NULL;
  c->hello_len = 0;
  c->sniff = WH_SNIFF_FIRST;
  if (n > skip)
    sniff_input(c, buf + skip, n - skip);
  if (!c->dead && take < len)
    conn_input(c, data + take, len - take);
  hello_put(c->w, buf);
}

static void sniff_input(wh_conn *c, const char *data, size_t len) {
  if (c->sniff == WH_SNIFF_PROXY) {
    proxy_header_input(c, data, len);
    return;
  }
  if (c->sniff == WH_SNIFF_FIRST) {
    if ((unsigned char)data[0] != 0x16) {
      c->sniff = WH_SNIFF_DONE;
      int routed = wh_tcp_route(c, NULL);
      if (routed < 0) {
        conn_destroy(c, false);
        return;
      }
      if (routed) {
        c->tcp_mode = true;
        if (wh_strbuf_append(&c->pend, data, len) < 0) {
          conn_destroy(c, false);
          return;
        }
        wh_tcp_dial(c);
        return;
      }
      on_plain(c, (ssize_t)len, data);
      return;
    }
    c->sniff = WH_SNIFF_HELLO;
    c->chr = chr_take(c->w);
    c->hello = hello_take(c->w);
    if (!c->chr || !c->hello) {
      conn_destroy(c, false);
      return;
    }
    wh_ch_reader_init(c->chr);
    uint64_t hs = WH_TLS_HANDSHAKE_MS;
    if (c->ep->read_ms && c->ep->read_ms < hs)
      hs = c->ep->read_ms;
    c->rd_kind = WH_RD_FIRST;
    c->rd_deadline = wh_worker_now(c->w) + hs;
  }
  if (c->hello_len + len > WH_CH_MAX) {
    /* HARDENING 23: no unbounded buffering of a ClientHello */
    conn_destroy(c, false);
    return;
  }
  memcpy(c->hello + c->hello_len, data, len);
  c->hello_len += len;
  wh_client_hello ch;
  wh_ch_status st = wh_ch_reader_feed(c->chr, (const uint8_t *)data, len, &ch);
  if (st == WH_CH_MORE)
    return;
  const char *why = wh_ch_reader_reason(c->chr);
  if (st != WH_CH_DONE)
    wh_log_debug("entry point %s: malformed TLS ClientHello: %s", c->ep->name, why ? why : "?");
  chr_put(c->w, c->chr);
  c->chr = NULL;
  c->sniff = WH_SNIFF_DONE;
  if (st != WH_CH_DONE) {
    conn_destroy(c, false);
    return;
  }
  int routed = wh_tcp_route(c, &ch);
  if (routed < 0) {
    conn_destroy(c, false);
    return;
  }
  if (routed) {
    c->tcp_mode = true;
    if (wh_tcp_route_passthrough(c)) {
      /* the backend terminates TLS: it gets the ClientHello as it came */
      int rc = wh_strbuf_append(&c->pend, c->hello, c->hello_len);
      hello_put(c->w, c->hello);
      c->hello = NULL;
      c->hello_len = 0;
      if (rc < 0) {
        conn_destroy(c, false);
        return;
      }
      wh_tcp_dial(c);
      return;
    }
    c->tcp_after_handshake = true;
  }
  if (wh_tls_acme_hello(&ch)) { /* an ACME validation is over in 2 s (HARDENING 45) */
    uint64_t acme_deadline = wh_worker_now(c->w) + WH_ACME_TLS_HANDSHAKE_MS;
    if (acme_deadline < c->rd_deadline)
      c->rd_deadline = acme_deadline;
  }
  tls_begin(c, &ch);
}

/* Bytes from the socket, wherever the connection is in its life. */
static void conn_input(wh_conn *c, const char *data, size_t len) {
  if (c->dead)
    return;
  if (c->sniff != WH_SNIFF_DONE && !c->closing)
    sniff_input(c, data, len);
  else if (c->tls && !c->closing)
    tls_input(c, data, len);
  else if (!c->tls)
    on_plain(c, (ssize_t)len, data);
  /* a TLS connection that is closing only drains what the peer still sends */
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  wh_conn *c = st->data;
  if (nread == 0 || c->dead)
    return;
  if (nread > 0) {
    conn_input(c, buf->base, (size_t)nread);
    return;
  }
  if (c->sniff == WH_SNIFF_HELLO || c->sniff == WH_SNIFF_PROXY) {
    conn_destroy(c, false); /* gone before its ClientHello was complete */
    return;
  }
  on_plain(c, nread, buf->base);
}

/* ---- request parsing ---- */

static wh_conn *conn_of(llhttp_t *p) {
  return p->data;
}

static int cb_message_begin(llhttp_t *p) {
  wh_conn *c = conn_of(p);
  conn_acquire_bufs(c);
  wh_head_reset(&c->head);
  c->in_msg = true;
  c->rd_kind = WH_RD_HEAD;
  c->rd_deadline = c->ep->read_ms ? wh_worker_now(c->w) + c->ep->read_ms : 0;
  return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t len) {
  return wh_head_url(&conn_of(p)->head, at, len) ? HPE_USER : 0;
}
static int cb_field(llhttp_t *p, const char *at, size_t len) {
  return wh_head_field(&conn_of(p)->head, at, len) ? HPE_USER : 0;
}
static int cb_field_done(llhttp_t *p) {
  return wh_head_field_done(&conn_of(p)->head) ? HPE_USER : 0;
}
static int cb_value(llhttp_t *p, const char *at, size_t len) {
  return wh_head_value(&conn_of(p)->head, at, len) ? HPE_USER : 0;
}
static int cb_value_done(llhttp_t *p) {
  return wh_head_value_done(&conn_of(p)->head) ? HPE_USER : 0;
}

static bool host_ok(const char *h) {
  for (const unsigned char *s = (const unsigned char *)h; *s; s++)
    if (*s <= 32 || *s >= 127 || *s == '/' || *s == '\\')
      return false;
  return strstr(h, "..") == NULL;
}

static bool target_ok(const char *t, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)t[i];
    if (ch <= 32 || ch >= 127 || ch == '#')
      return false;
  }
  return n > 0;
}

static void proxy_start(wh_conn *c, const wh_rt_elem *router, wh_mw_exchange *x, const char *query);
static void dial_server(wh_conn *c);
static void put_escaped_path(wh_strbuf *o, const char *path);

/* n bytes of s, with every byte other than letters, digits and those in
 * keep written as %XX. */
static void put_pct(wh_strbuf *o, const char *s, size_t n, const char *keep) {
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
        (ch && strchr(keep, ch))) {
      wh_strbuf_putc(o, (char)ch);
    } else {
      char e[3] = {'%', hex[ch >> 4], hex[ch & 15]};
      wh_strbuf_append(o, e, 3);
    }
  }
}
static bool errors_fetch(wh_conn *c);
static void retry_cancel(wh_conn *c);
static bool retry_start(wh_conn *c);
#define WH_PIPE_MAX 32 /* middlewares of one router, chains expanded */
typedef struct wh_pipe {
  const wh_rt_elem *router;
  const wh_rt_elem *mw[WH_PIPE_MAX];
  size_t n, next;
} wh_pipe;
static bool pipe_init(wh_conn *c, wh_pipe *pp, const wh_rt_elem *router);
static int pipe_run(wh_conn *c, wh_pipe *pp, wh_mw_exchange *x);
static void pipe_finish(wh_conn *c, const wh_rt_elem *router, wh_mw_exchange *x, wh_http_req *req,
                        wh_http_resp *resp, char **query, int rc);
static wh_mw_async *conn_suspend(void *ctx);
static bool pending_take(wh_conn *c, const wh_pipe *pp, wh_mw_exchange *x, wh_http_req *req,
                         wh_http_resp *resp, char **query);
typedef struct wh_pending wh_pending;
static void pending_free(wh_pending *p);

/* A request a middleware (rateLimit) asked to delay: the exchange waits on a
 * timer, then goes to its service. Body bytes that arrive meanwhile wait in
 * pend with reading paused, as while an upstream connects. */
struct wh_parked {
  uv_timer_t timer;
  bool wait_body; /* buffering: go on when the request body is complete */
  wh_conn *c;
  const wh_rt_elem *router; /* in c->snap, held by the exchange */
  wh_mw_exchange x;
  char *query;
};

static void parked_closed(uv_handle_t *h) {
  wh_parked *p = h->data;
  wh_mw_exchange_free(&p->x);
  free(p->query);
  free(p);
}

static void unpark(wh_conn *c) {
  wh_parked *p = c->parked;
  if (!p)
    return;
  c->parked = NULL;
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, parked_closed);
}

static void on_parked(uv_timer_t *t) {
  wh_parked *p = t->data;
  wh_conn *c = p->c;
  c->parked = NULL;
  if (!c->dead && !c->closing && c->in_msg && !c->resp_done) {
    proxy_start(c, p->router, &p->x, p->query);
    /* answered here (no server: 503): the exchange ends now, as after a
     * dispatch, or a keep-alive client would wait for nothing */
    if (!c->dead)
      maybe_finish(c);
  }
  uv_close((uv_handle_t *)&p->timer, parked_closed);
}

static void park(wh_conn *c, const wh_rt_elem *router, wh_mw_exchange *x, char **query,
                 bool wait_body) {
  wh_parked *p = calloc(1, sizeof(*p));
  if (!p || uv_timer_init(&c->w->loop, &p->timer) < 0) {
    free(p);
    proxy_start(c, router, x, *query); /* no memory to wait: serve now */
    return;
  }
  p->timer.data = p;
  p->c = c;
  p->router = router;
  p->x = *x;
  memset(x, 0, sizeof(*x)); /* moved */
  p->query = *query;
  *query = NULL;
  p->wait_body = wait_body;
  c->parked = p;
  c->holding = true;
  if (!wait_body)
    uv_timer_start(&p->timer, on_parked, p->x.delay_ms, 0);
}

static int build_req_views(wh_conn *c) {
  if (c->hdrs.n > c->hcap) {
    size_t cap = c->hdrs.n + 16;
    char **n = realloc(c->hn, cap * sizeof(*n));
    if (!n)
      return -1;
    c->hn = n;
    char **v = realloc(c->hv, cap * sizeof(*v));
    if (!v)
      return -1;
    c->hv = v;
    c->hcap = cap;
  }
  for (size_t i = 0; i < c->hdrs.n; i++) {
    c->hn[i] = c->hdrs.v[i].name;
    c->hv[i] = c->hdrs.v[i].value;
  }
  return 0;
}

/* Routing, middlewares and the service, once the head is complete. */
static void dispatch(wh_conn *c, llhttp_t *p) {
  wh_head *h = &c->head;
  const char *target = h->buf + h->url_off;
  size_t tlen = h->url_len;
  /* request-target forms (RFC 9112 §3.2): origin, absolute, asterisk */
  const char *path = target;
  size_t plen = tlen;
  char *authority = NULL;
  if (tlen >= 7 && (strncasecmp(target, "http://", 7) == 0 ||
                    (tlen >= 8 && strncasecmp(target, "https://", 8) == 0))) {
    const char *a = memchr(target, '/', tlen) + 2;
    size_t alen = 0;
    while (a + alen < target + tlen && a[alen] != '/' && a[alen] != '?')
      alen++;
    authority = wh_strndup(a, alen);
    if (!authority || !alen || !host_ok(authority) || strchr(authority, '@')) {
      free(authority);
      send_status(c, 400);
      c->close_after = true;
      return;
    }
    path = a + alen;
    plen = (size_t)(target + tlen - path);
  } else if (!(tlen == 1 && target[0] == '*') && target[0] != '/') {
    send_status(c, 400);
    c->close_after = true;
    return;
  }
  const char *q = memchr(path, '?', plen);
  size_t rawlen = q ? (size_t)(q - path) : plen;
  char *query = q ? wh_strndup(q + 1, plen - rawlen - 1) : NULL;
  char *rawpath = rawlen ? wh_strndup(path, rawlen) : strdup("/");
  char *ntarget = wh_strndup(target, tlen);
  const char *hosthdr = wh_headers_get(&c->hdrs, "Host");
  /* absolute form: routed by its authority, never by Host (HARDENING 7) */
  c->host = authority ? authority : strdup(hosthdr ? hosthdr : "");
  bool bad = false;
  wh_mw_exchange x;
  memset(&x, 0, sizeof(x));
  wh_http_resp resp;
  wh_http_resp_init(&resp);
  if (!rawpath || !ntarget || !c->host || (q && !query) || build_req_views(c) < 0) {
    send_status(c, 500);
    goto out;
  }
  x.path = wh_path_canonical(rawpath, strlen(rawpath), c->ep->sanitize, &bad);
  if (!x.path) {
    send_status(c, bad ? 400 : 500);
    goto out;
  }
  wh_http_req req;
  memset(&req, 0, sizeof(req));
  req.method = llhttp_method_name((llhttp_method_t)p->method);
  req.target = ntarget;
  req.path = rawpath;
  req.query = query;
  req.host = c->host;
  req.nheaders = c->hdrs.n;
  req.hdr_names = c->hn;
  req.hdr_values = c->hv;
  req.body = "";
  req.peer = c->peer;
  req.http_minor = c->http_minor;
  req.keep_alive = !c->close_after;
  x.req = &req;
  x.resp = &resp;
  x.is_tls = c->tls != NULL;
  x.fwd_trusted =
      c->ep->insecure ||
      (c->ep->trusted && wh_ipset_contains(c->ep->trusted, (struct sockaddr *)&c->peer));

  c->snap = wh_snapshot_ref(c->w->current);
  if (wh_observe_wants_exchanges(wh_observe_global())) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->obs_unix = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    c->obs_t0 = uv_hrtime();
    c->obs_trusted = x.fwd_trusted;
    if (!c->obs_resp_hdrs && wh_observe_wants_resp_headers(wh_observe_global())) {
      c->obs_resp_hdrs = calloc(1, sizeof(*c->obs_resp_hdrs));
      if (c->obs_resp_hdrs)
        wh_headers_init(c->obs_resp_hdrs);
    }
  }
  if (c->tls && c->snap && c->snap->tls && c->tls_pol) {
    /* The Host must not reach options other than those its SNI negotiated
     * (HARDENING 20): a name with stricter TLS or mTLS is never served over
     * a session made under weaker options. */
    const wh_tls_policy *hp = wh_tls_server_policy_for_host(c->snap->tls, c->ep->index, c->host);
    if (hp && strcmp(hp->name, c->tls_pol) != 0) {
      send_status(c, 421);
      goto out;
    }
  }
  const wh_route_table *table = NULL;
  if (c->snap && c->ep->index < c->snap->ntables &&
      strcmp(c->snap->tables[c->ep->index]->entrypoint, c->ep->name) == 0)
    table = c->snap->tables[c->ep->index];
  wh_http_req_view view = {
      .method = req.method,
      .host = c->host,
      .path = x.path,
      .query = query,
      .nheaders = c->hdrs.n,
      .hdr_names = (const char *const *)c->hn,
      .hdr_values = (const char *const *)c->hv,
      .client = (const struct sockaddr *)&c->peer,
  };
  const wh_rt_elem *router = table ? wh_route_match_http(table, &view, c->tls != NULL) : NULL;
  c->obs_router = router;
  if (!router) {
    send_status(c, 404);
    goto out;
  }
  wh_pipe pipe;
  if (!pipe_init(c, &pipe, router)) {
    /* Fail closed: a router is never served without its middlewares. */
    send_status(c, 500);
    goto out;
  }
  x.suspend = conn_suspend;
  x.suspend_ctx = c;
  x.router_name = router->name;
  int rc = pipe_run(c, &pipe, &x);
  if (rc != WH_MW_ASYNC && c->pending) {
    /* a hook suspended but did not return WH_MW_ASYNC: nothing to wait for */
    wh_pending *stray = c->pending;
    c->pending = NULL;
    pending_free(stray);
  }
  if (rc == WH_MW_ASYNC) {
    if (!pending_take(c, &pipe, &x, &req, &resp, &query)) {
      send_status(c, 500);
      goto out;
    }
    goto out;
  }
  pipe_finish(c, router, &x, &req, &resp, &query, rc);
out:
  wh_http_resp_free(&resp);
  wh_mw_exchange_free(&x);
  free(query);
  free(rawpath);
  free(ntarget);
}

/* ---- the middleware pipeline ---- */

/* The router's middlewares with every chain expanded in place (members
 * qualified with the chain's provider): a flat list the exchange walks with
 * one index, so that it can stop at any member (suspend, park) and resume
 * there. False when a member is missing, disabled or has no runtime: the
 * router must then not be served (fail closed). */
static bool pipe_add(wh_pipe *pp, const wh_runtime *rt, const char *qn, int depth) {
  const wh_rt_elem *m = wh_runtime_find(rt, WH_KIND_HTTP_MIDDLEWARE, qn);
  if (!m || !m->mw_type || m->status == WH_STATUS_DISABLED || depth > 8)
    return false;
  const wh_strlist *members = m->mw_type->members ? m->mw_type->members(m->mw_cfg) : NULL;
  if (members) {
    for (size_t i = 0; i < members->n; i++) {
      char *q = wh_qualify(members->v[i], m->provider);
      bool ok = q && pipe_add(pp, rt, q, depth + 1);
      free(q);
      if (!ok)
        return false;
    }
    return true;
  }
  if (!m->mw_type->on_request) {
    static _Atomic bool logged;
    if (!atomic_exchange(&logged, true))
      wh_log_error("middleware \"%s\" (type %s) has no runtime in this build; answering 500",
                   m->name, m->mw_type->name);
    return false;
  }
  if (pp->n == WH_PIPE_MAX)
    return false;
  pp->mw[pp->n++] = m;
  return true;
}

static bool pipe_init(wh_conn *c, wh_pipe *pp, const wh_rt_elem *router) {
  pp->router = router;
  pp->n = pp->next = 0;
  for (size_t i = 0; i < router->middleware_refs.n; i++)
    if (!pipe_add(pp, c->snap->rt, router->middleware_refs.v[i], 0))
      return false;
  return true;
}

/* Runs the members from pp->next: WH_MW_NEXT when all passed, WH_MW_DONE
 * when one answered, WH_MW_ASYNC when one suspended the exchange. */
static int pipe_run(wh_conn *c, wh_pipe *pp, wh_mw_exchange *x) {
  x->rt = c->snap->rt;
  while (pp->next < pp->n) {
    const wh_rt_elem *m = pp->mw[pp->next++];
    x->mw_name = m->name;
    x->mw_provider = m->provider;
    x->level++;
    int rc = m->mw_type->on_request(m->mw_cfg, x);
    if (rc != WH_MW_NEXT)
      return rc;
  }
  return WH_MW_NEXT;
}

/* After the middlewares: the response edits, end callbacks and data-plane
 * requests (retry, compress) live as long as the exchange; then the answer,
 * the internal service, or the backend. */
static void pipe_finish(wh_conn *c, const wh_rt_elem *router, wh_mw_exchange *x, wh_http_req *req,
                        wh_http_resp *resp, char **query, int rc) {
  c->edits = x->edits;
  c->nedits = x->nedits;
  c->ends = x->ends;
  c->nends = x->nends;
  x->edits = NULL;
  x->nedits = 0;
  x->ends = NULL;
  x->nends = 0;
  c->retry_left = x->retry_attempts > 1 ? x->retry_attempts - 1 : 0;
  c->retry_ms = x->retry_interval_ms;
  c->resp_max = x->buffer_resp_max;
  c->errp_service = x->errors_service;
  x->errors_service = NULL;
  c->errp_status = x->errors_status;
  c->errp_rewrites = x->errors_rewrites;
  c->errp_query = x->errors_query;
  c->cz_enc = x->compress_enc;
  c->cz_min = x->compress_min_bytes;
  c->cz_include = x->compress_include;
  c->cz_exclude = x->compress_exclude;
  free(c->obs_user);
  c->obs_user = x->username;
  x->username = NULL;
  if (rc == WH_MW_DONE) {
    send_local(c, resp);
    return;
  }
  if (wh_internal_serve(c->snap, router->service_ref, req, x->path,
                        atomic_load(&c->w->ws->terminating), resp)) {
    send_local(c, resp);
    return;
  }
  if (x->buffer_req) {
    size_t cap = x->buffer_req_max > 0 ? (size_t)x->buffer_req_max : WH_BUFFER_MAX;
    if ((c->parser.flags & F_CONTENT_LENGTH) && c->parser.content_length > cap) {
      c->close_after = true;
      send_status(c, 413);
      return;
    }
    c->buffer_cap = cap;
    if (c->req_body && !c->req_done) {
      park(c, router, x, query, true);
      return;
    }
  }
  if (x->delay_ms) {
    park(c, router, x, query, false);
    return;
  }
  proxy_start(c, router, x, *query);
}

/* A suspended exchange: everything the pipeline needs, moved off the
 * dispatch stack, with its own reference on the snapshot that holds the
 * middlewares' configuration (a connection that goes away meanwhile leaves
 * it orphaned until the middleware calls done). */
typedef struct wh_pending {
  wh_mw_async a; /* first: the handle the middleware holds */
  wh_conn *c;    /* NULL once the connection gave the exchange up */
  wh_snapshot *snap;
  bool moved; /* the state below has been filled */
  wh_pipe pipe;
  wh_mw_exchange x;
  wh_http_req req;
  wh_http_resp resp;
  char *query, *target, *path, *host;
} wh_pending;

static void pending_free(wh_pending *p) {
  wh_mw_exchange_free(&p->x); /* end callbacks not handed over run as aborted */
  wh_http_resp_free(&p->resp);
  free(p->query);
  free(p->target);
  free(p->path);
  free(p->host);
  wh_snapshot_unref(p->snap);
  free(p);
}

/* The connection gives a suspended exchange up: the middleware still working
 * on it frees it when it calls done. */
static void pending_orphan(wh_conn *c) {
  if (!c->pending)
    return;
  c->pending->c = NULL;
  c->pending = NULL;
}

static void pending_done(wh_mw_async *a, int rc) {
  wh_pending *p = (wh_pending *)a;
  wh_conn *c = p->c;
  if (!c || c->dead || c->closing || !c->in_msg || c->resp_done) {
    if (c && c->pending == p)
      c->pending = NULL;
    pending_free(p);
    return;
  }
  /* c->pending stays p while the rest of the chain runs: a middleware that
   * suspends again gets the same handle back */
  if (rc == WH_MW_NEXT)
    rc = pipe_run(c, &p->pipe, &p->x);
  if (rc == WH_MW_ASYNC)
    return;
  c->pending = NULL;
  pipe_finish(c, p->pipe.router, &p->x, &p->req, &p->resp, &p->query, rc);
  pending_free(p);
  /* A local answer (401 after a bcrypt check, a forwardAuth denial) ends the
   * exchange here: outside the parser's callbacks nothing else would, and
   * the next request on a kept-alive connection would never be read. */
  if (!c->dead)
    maybe_finish(c);
}

static wh_mw_async *conn_suspend(void *ctx) {
  wh_conn *c = ctx;
  if (c->pending)
    return &c->pending->a;
  wh_pending *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  p->a.done = pending_done;
  p->a.loop = &c->w->loop;
  p->c = c;
  p->snap = wh_snapshot_ref(c->snap);
  c->pending = p;
  c->holding = true;
  return &p->a;
}

/* The hook returned WH_MW_ASYNC from the dispatch: move the stack state into
 * the pending exchange. False on OOM (the caller answers 500). */
static bool pending_take(wh_conn *c, const wh_pipe *pp, wh_mw_exchange *x, wh_http_req *req,
                         wh_http_resp *resp, char **query) {
  wh_pending *p = c->pending;
  if (!p)
    return false;
  p->pipe = *pp;
  p->req = *req;
  p->target = req->target ? wh_strdup(req->target) : NULL;
  p->path = req->path ? wh_strdup(req->path) : NULL;
  p->host = req->host ? wh_strdup(req->host) : NULL;
  p->query = *query;
  *query = NULL;
  p->req.target = p->target;
  p->req.path = p->path;
  p->req.host = p->host;
  p->req.query = p->query;
  p->resp = *resp;
  memset(resp, 0, sizeof(*resp));
  p->x = *x;
  memset(x, 0, sizeof(*x));
  p->x.req = &p->req;
  p->x.resp = &p->resp;
  p->a.x = &p->x;
  p->moved = true;
  return true;
}

static int cb_headers_complete(llhttp_t *p) {
  wh_conn *c = conn_of(p);
  wh_head *h = &c->head;
  if (wh_head_to_headers(h, &c->hdrs) < 0) {
    c->err_status = 500;
    return -1;
  }
  c->http_minor = p->http_minor;
  if (p->http_major != 1 || p->http_minor > 1) {
    c->err_status = 505;
    return -1;
  }
  size_t hosts = 0, tes = 0;
  bool te_bad = false, expect_bad = false;
  for (size_t i = 0; i < c->hdrs.n; i++) {
    const wh_header *f = &c->hdrs.v[i];
    if (strcasecmp(f->name, "Host") == 0) {
      hosts++;
      if (!host_ok(f->value))
        te_bad = true;
    } else if (strcasecmp(f->name, "Transfer-Encoding") == 0) {
      tes++;
      if (strcasecmp(f->value, "chunked") != 0)
        te_bad = true;
    } else if (strcasecmp(f->name, "Expect") == 0) {
      if (strcasecmp(f->value, "100-continue") != 0)
        expect_bad = true;
    }
  }
  /* HARDENING 3, 6, 8 (llhttp already refuses CL+TE and duplicate CLs) */
  if (te_bad || tes > 1 || (tes && p->http_minor == 0) || hosts > 1 ||
      (hosts == 0 && p->http_minor >= 1) || !target_ok(h->buf + h->url_off, h->url_len)) {
    c->err_status = 400;
    return -1;
  }
  if (expect_bad) {
    c->err_status = 417;
    return -1;
  }
  h->n = 0; /* trailers, if any, are collected from here */
  c->is_head = p->method == HTTP_HEAD;
  c->req_chunked = (p->flags & F_CHUNKED) != 0;
  c->req_body = c->req_chunked || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  c->close_after = !llhttp_should_keep_alive(p) || c->w->draining;
  if (p->upgrade || wh_headers_get(&c->hdrs, "Upgrade")) {
    if (wh_headers_has_token(&c->hdrs, "Upgrade", "websocket") &&
        wh_headers_has_token(&c->hdrs, "Connection", "upgrade") && p->method == HTTP_GET) {
      if (c->req_body) {
        /* A handshake has no body; forwarded, it would be read as the next
         * request by a backend that refuses the upgrade (HARDENING 34). */
        c->err_status = 400;
        return -1;
      }
      c->upgrade_ws = true;
    } else
      c->upgrade_other = true;
  }
  if (c->req_body) {
    c->rd_kind = WH_RD_BODY;
    c->rd_deadline = c->ep->read_ms ? wh_worker_now(c->w) + c->ep->read_ms : 0;
  } else {
    c->rd_kind = WH_RD_NONE;
    c->rd_deadline = 0;
  }
  if (c->ep->write_ms)
    c->wr_deadline = wh_worker_now(c->w) + c->ep->write_ms;
  if (p->method == HTTP_CONNECT) {
    c->close_after = true;
    send_status(c, 405);
    return 0;
  }
  dispatch(c, p);
  return 0;
}

static void chunk_prefix(char *buf, size_t n, size_t len) {
  snprintf(buf, n, "%zx\r\n", len);
}

static int send_up(wh_conn *c, const uv_buf_t *bufs, unsigned n) {
  if (c->up && c->up->state == WH_US_ACTIVE && c->pend.len == 0)
    return wh_upstream_write(c->up, bufs, n);
  /* still connecting: hold this read's worth, and read no further */
  for (unsigned i = 0; i < n; i++)
    if (wh_strbuf_append(&c->pend, bufs[i].base, bufs[i].len) < 0)
      return UV_ENOMEM;
  if (c->buffer_cap) {
    /* buffering: the whole body is read before the backend is dialled */
    return c->pend.len > c->buffer_cap ? WH_BODY_TOO_BIG : 0;
  }
  if (!c->bp_paused) {
    c->bp_paused = true;
    wh_conn_update_reading(c);
  }
  return 0;
}

static int cb_chunk_header(llhttp_t *p) {
  wh_conn *c = conn_of(p);
  c->chunk_has_data = false;
  return 0;
}

static int cb_chunk_complete(llhttp_t *p) {
  wh_conn *c = conn_of(p);
  if (!c->chunk_has_data)
    return 0;
  c->chunk_has_data = false;
  char b[2];
  if (c->chunk_end_here) {
    if (c->chunk_end + 2 > c->head.exec_end)
      return 0; /* cannot happen: both bytes were consumed */
    b[0] = c->chunk_end[0];
    b[1] = c->chunk_end[1];
    c->chunk_end_here = false;
  } else {
    size_t need = 2 - c->crlf_seen;
    if ((size_t)(c->head.exec_end - c->exec_start) < need)
      return 0;
    memcpy(b, c->crlf_buf, c->crlf_seen);
    memcpy(b + c->crlf_seen, c->exec_start, need);
  }
  if (b[0] != '\r' || b[1] != '\n') {
    c->err_status = 400;
    return HPE_USER;
  }
  return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len) {
  wh_conn *c = conn_of(p);
  if (c->req_chunked) {
    c->chunk_end = at + len;
    c->chunk_end_here = true;
    c->chunk_has_data = true;
  }
  if (c->rd_kind == WH_RD_BODY && c->ep->read_ms)
    c->rd_deadline = wh_worker_now(c->w) + c->ep->read_ms; /* progress */
  c->obs_req_bytes += len;
  if (c->local || c->resp_done || (!c->up && !c->holding))
    return 0; /* answered here: the body is discarded */
  c->body_sent = true;
  int rc;
  if (c->req_chunked) {
    char pre[24];
    chunk_prefix(pre, sizeof(pre), len);
    uv_buf_t b[3] = {uv_buf_init(pre, (unsigned)strlen(pre)),
                     uv_buf_init((char *)at, (unsigned)len), uv_buf_init("\r\n", 2)};
    rc = send_up(c, b, 3);
  } else {
    uv_buf_t b = uv_buf_init((char *)at, (unsigned)len);
    rc = send_up(c, &b, 1);
  }
  if (rc == WH_BODY_TOO_BIG) {
    c->err_status = 413; /* buffering.maxRequestBodyBytes */
    return HPE_USER;
  }
  if (rc < 0 && c->up) {
    wh_upstream *u = c->up;
    wh_upstream_close(u);
    c->up = NULL;
    wh_conn_up_failed(c, 502, false);
  }
  return 0;
}

static int cb_message_complete(llhttp_t *p) {
  wh_conn *c = conn_of(p);
  c->req_done = true;
  if (c->parked && c->parked->wait_body)
    uv_timer_start(&c->parked->timer, on_parked, 0, 0); /* the body is all here */
  c->rd_kind = WH_RD_NONE;
  c->rd_deadline = 0;
  if (c->up && !c->resp_done && c->up_kind == WH_UP_NONE && c->up->state == WH_US_ACTIVE &&
      c->resp_head_ms) {
    c->up_kind = WH_UP_RESP_HEAD;
    c->up_deadline = wh_worker_now(c->w) + c->resp_head_ms;
  }
  return HPE_PAUSED;
}

static const llhttp_settings_t req_settings = {
    .on_message_begin = cb_message_begin,
    .on_url = cb_url,
    .on_header_field = cb_field,
    .on_header_field_complete = cb_field_done,
    .on_header_value = cb_value,
    .on_header_value_complete = cb_value_done,
    .on_headers_complete = cb_headers_complete,
    .on_body = cb_body,
    .on_message_complete = cb_message_complete,
    .on_chunk_header = cb_chunk_header,
    .on_chunk_complete = cb_chunk_complete,
};

/* ---- proxying ---- */

static void proxy_start(wh_conn *c, const wh_rt_elem *router, wh_mw_exchange *x,
                        const char *query) {
  wh_worker *w = c->w;
  c->holding = false; /* from now on body bytes follow the upstream */
  const wh_backend *be = wh_snapshot_backend(c->snap, router->service_ref);
  if (!be) {
    send_status(c, 503);
    return;
  }
  const wh_http_service *scfg = be->service->cfg;
  const wh_lb_service *lbc = scfg->load_balancer;
  c->lb = be->lb;
  const char *cookie = wh_headers_get(&c->hdrs, "Cookie");
  c->server = wh_lb_pick(c->lb, w->index, cookie, &c->set_cookie);
  if (!c->server) {
    send_status(c, 503);
    return;
  }
  c->up_tls = be->tls;
  c->dial_ms = be->dial_ms;
  c->resp_head_ms = be->resp_head_ms;
  c->idle_conn_ms = be->idle_conn_ms;
  c->max_idle = be->max_idle;

  /* headers for the backend */
  bool pass_host = lbc->pass_host_header;
  wh_hop_by_hop_strip(&c->hdrs, c->upgrade_ws);
  bool trusted = x->fwd_trusted; /* decided once, at dispatch */
  if (c->obs_t0 && !c->obs_xff_taken) {
    /* the access log shows the client's value, not the one with our hop */
    const char *xff = wh_headers_get(&c->hdrs, "X-Forwarded-For");
    c->obs_xff = xff ? wh_strdup(xff) : NULL;
    c->obs_xff_taken = true;
  }
  wh_fwd_ctx fc = {
      .client = (const struct sockaddr *)&c->peer,
      .trusted = trusted,
      .is_tls = c->tls != NULL,
      .is_websocket = c->upgrade_ws,
      .host = c->host,
      .server = w->ws->hostname,
      .not_append_xff = c->ep->not_append_xff,
  };
  if (wh_forwarded_apply(&c->hdrs, &fc) < 0) {
    send_status(c, 500);
    return;
  }
  /* A middleware's Host (headers.customRequestHeaders) replaces the client's,
   * as Traefik's req.Host: the backend gets it when passHostHeader is on. */
  const char *host_out = c->host;
  for (size_t i = 0; i < x->set_headers.n; i++) {
    if (strcasecmp(x->set_headers.keys[i], "Host") == 0) {
      if (x->set_headers.vals[i] && *x->set_headers.vals[i])
        host_out = x->set_headers.vals[i];
    } else if (x->set_headers.vals[i]) {
      wh_headers_set(&c->hdrs, x->set_headers.keys[i], x->set_headers.vals[i]);
    } else {
      wh_headers_remove(&c->hdrs, x->set_headers.keys[i]);
    }
  }
  wh_headers_remove(&c->hdrs, "Host");

  /* request line and head in one buffer */
  wh_strbuf *o = &c->up_head;
  o->len = 0;
  const char *prefix = "";
  size_t prefix_len = 0;
  if (c->server->path && *c->server->path) {
    for (size_t i = 0; i < lbc->servers.n; i++) {
      const wh_server *sv = (const wh_server *)lbc->servers.items + i;
      if (sv->preserve_path && sv->url && strcmp(sv->url, c->server->url) == 0) {
        prefix = c->server->path;
        prefix_len = strlen(prefix);
        while (prefix_len && prefix[prefix_len - 1] == '/')
          prefix_len--;
        break;
      }
    }
  }
  wh_strbuf_printf(o, "%s ", llhttp_method_name((llhttp_method_t)c->parser.method));
  wh_strbuf_append(o, prefix, prefix_len);
  put_escaped_path(o, x->path);
  if (query) {
    wh_strbuf_putc(o, '?');
    wh_strbuf_puts(o, query);
  }
  wh_strbuf_printf(o, " HTTP/1.1\r\nHost: %s\r\n", pass_host ? host_out : c->server->hostport);
  for (size_t i = 0; i < c->hdrs.n; i++) {
    const wh_header *f = &c->hdrs.v[i];
    wh_strbuf_append(o, f->name, f->name_len);
    wh_strbuf_puts(o, ": ");
    wh_strbuf_append(o, f->value, f->value_len);
    wh_strbuf_puts(o, "\r\n");
  }
  if (c->req_chunked)
    wh_strbuf_puts(o, "Transfer-Encoding: chunked\r\n");
  if (wh_strbuf_puts(o, "\r\n") < 0) {
    send_status(c, 500);
    return;
  }

  dial_server(c);
}

/* The routing path is decoded except for the reserved characters; what goes
 * on the request line is escaped again the way Go's URL.EscapedPath does
 * (RFC 3986 pchar plus '/', '%' kept: it only remains as %25 or a reserved
 * escape), so a decoded space, backslash or control byte reaches the
 * backend as %20, %5C, ... and never as a raw byte that it could read as a
 * separator (HARDENING 14). */
static void put_escaped_path(wh_strbuf *o, const char *path) {
  put_pct(o, path, strlen(path), "-._~!$&'()*+,;=:@/%");
}

static bool server_is_https(const wh_lb_server *s) {
  return s->scheme && strcmp(s->scheme, "https") == 0;
}

static wh_upstream *connect_server(wh_conn *c, const char *key) {
  wh_upstream_target t = {
      .key = key,
      .host = c->server->host,
      .port = c->server->port,
      .tls = server_is_https(c->server) ? c->up_tls : NULL,
      .label = c->server->url,
  };
  return wh_upstream_connect(c->w, c, &t);
}

void wh_conn_up_deadline(wh_conn *c, uint64_t ms) {
  c->up_deadline = wh_worker_now(c->w) + ms;
}

/* Sends the head in c->up_head to c->server: on a pooled connection, else
 * on a new one (wh_conn_up_connected sends it). */
static void dial_server(wh_conn *c) {
  wh_worker *w = c->w;
  if (c->obs_t0 && !c->obs_up_t0)
    c->obs_up_t0 = uv_hrtime();
  const char *key = c->server->pool_key;
  if (!key) {
    wh_log_warn("backend %s: no TLS transport for it (see the service's errors)", c->server->url);
    wh_conn_up_failed(c, 502, false);
    return;
  }
  wh_upstream *u = wh_upstream_from_pool(w, key);
  if (u) {
    wh_upstream_begin(u, c, c->is_head);
    /* the head, and the body bytes held meanwhile (buffering, a delay) */
    uv_buf_t b[2] = {uv_buf_init(c->up_head.data, (unsigned)c->up_head.len),
                     uv_buf_init(c->pend.data, (unsigned)c->pend.len)};
    int wrc = wh_upstream_write(u, b, c->pend.len ? 2 : 1);
    c->pend.len = 0;
    if (c->bp_paused) {
      c->bp_paused = false;
      wh_conn_update_reading(c);
    }
    if (wrc < 0) {
      wh_upstream_close(u);
      c->up = NULL;
      wh_conn_up_failed(c, 502, true);
    }
    return;
  }
  c->up_kind = WH_UP_DIAL;
  c->up_deadline = c->dial_ms ? wh_worker_now(w) + c->dial_ms : 0;
  if (!connect_server(c, key)) {
    c->up_kind = WH_UP_NONE;
    c->up_deadline = 0;
    send_status(c, 500);
  }
}

/* retry middleware: another attempt through the balancer, after the
 * backoff (initialInterval doubling, at most twice the initial). */
typedef struct wh_retry_wait {
  uv_timer_t timer;
  wh_conn *c;
} wh_retry_wait;

static void retry_wait_closed(uv_handle_t *h) {
  free(h->data);
}

static void retry_cancel(wh_conn *c) {
  if (!c->retry_wait)
    return;
  uv_timer_stop(&c->retry_wait->timer);
  uv_close((uv_handle_t *)&c->retry_wait->timer, retry_wait_closed);
  c->retry_wait = NULL;
}

static void retry_dial(wh_conn *c) {
  const char *cookie = wh_headers_get(&c->hdrs, "Cookie");
  free(c->set_cookie);
  c->set_cookie = NULL;
  c->server = wh_lb_pick(c->lb, c->w->index, cookie, &c->set_cookie);
  if (!c->server) {
    send_status(c, 503);
    maybe_finish(c);
    return;
  }
  dial_server(c);
}

static void on_retry_timer(uv_timer_t *t) {
  wh_retry_wait *r = t->data;
  wh_conn *c = r->c;
  c->retry_wait = NULL;
  uv_close((uv_handle_t *)&r->timer, retry_wait_closed);
  if (!c->dead && !c->closing && c->in_msg && !c->head_sent)
    retry_dial(c);
}

static bool retry_start(wh_conn *c) {
  c->retry_left--;
  c->retry_n++;
  uint64_t d = c->retry_ms ? c->retry_ms << (c->retry_n > 1 ? 1 : 0) : 0;
  if (!d) {
    retry_dial(c);
    return true;
  }
  wh_retry_wait *r = calloc(1, sizeof(*r));
  if (!r || uv_timer_init(&c->w->loop, &r->timer) < 0) {
    free(r);
    return false;
  }
  r->timer.data = r;
  r->c = c;
  c->retry_wait = r;
  uv_timer_start(&r->timer, on_retry_timer, d, 0);
  return true;
}

void wh_conn_up_connected(wh_conn *c) {
  wh_upstream *u = c->up;
  c->up_kind = WH_UP_NONE;
  c->up_deadline = 0;
  if (c->tcp_mode) {
    wh_upstream_begin(u, c, false);
    u->upgraded = true; /* every byte is the tunnel's */
    if (wh_tcp_connected(c) < 0)
      return;
    wh_tunnel_start(c, NULL, 0);
    return;
  }
  wh_upstream_begin(u, c, c->is_head);
  uv_buf_t b[2] = {uv_buf_init(c->up_head.data, (unsigned)c->up_head.len),
                   uv_buf_init(c->pend.data, (unsigned)c->pend.len)};
  int rc = wh_upstream_write(u, b, c->pend.len ? 2 : 1);
  c->pend.len = 0;
  if (rc < 0) {
    wh_upstream_close(u);
    c->up = NULL;
    wh_conn_up_failed(c, 502, false);
    return;
  }
  if (c->req_done && c->resp_head_ms) {
    c->up_kind = WH_UP_RESP_HEAD;
    c->up_deadline = wh_worker_now(c->w) + c->resp_head_ms;
  }
  if (c->bp_paused && u->tcp.write_queue_size <= WH_BACKPRESSURE_BYTES) {
    c->bp_paused = false;
    wh_conn_update_reading(c);
  }
}

static bool idempotent(int method) {
  return method == HTTP_GET || method == HTTP_HEAD || method == HTTP_OPTIONS ||
         method == HTTP_TRACE || method == HTTP_PUT || method == HTTP_DELETE;
}

void wh_conn_up_failed(wh_conn *c, int status, bool before_any_byte) {
  if (c->up) {
    wh_upstream *u = c->up;
    c->up = NULL;
    wh_upstream_close(u);
  }
  c->up_kind = WH_UP_NONE;
  c->up_deadline = 0;
  if (c->dead || c->closing)
    return;
  if (c->tcp_mode) {
    conn_destroy(c, false); /* a TCP client has no status to be told */
    return;
  }
  if (c->resp_over)
    status = 500;
  if (c->errp_active) {
    if (!c->errp_started) {
      c->errp_started = true;
      if (errors_fetch(c))
        return;
    }
    status = c->errp_code; /* no page: the status alone */
  }
  if (c->head_sent) {
    /* a response is streaming: the client must see it fail (HARDENING 32) */
    conn_destroy(c, true);
    return;
  }
  /* retry middleware: network errors (refused, reset, no answer) before
   * anything was written to the client, and only when replaying cannot
   * repeat a side effect. */
  if (status == 502 && c->retry_left && idempotent(c->parser.method) && !c->req_body && c->lb) {
    if (c->server)
      wh_lb_report(c->lb, c->server, true);
    if (retry_start(c))
      return;
  }
  /* A pooled connection the backend closed before answering: once more on a
   * fresh one, only when replaying cannot repeat a side effect (HARDENING 35). */
  if (before_any_byte && !c->retried && idempotent(c->parser.method) && !c->req_body && c->server) {
    c->retried = true;
    c->up_kind = WH_UP_DIAL;
    c->up_deadline = c->dial_ms ? wh_worker_now(c->w) + c->dial_ms : 0;
    const char *key = c->server->pool_key;
    if (key && connect_server(c, key))
      return;
  }
  if (c->lb && c->server && (status == 502 || status == 504) && !c->errp_active)
    wh_lb_report(c->lb, c->server, true);
  if (!c->req_done)
    c->close_after = true;
  send_status(c, status);
  maybe_finish(c);
}

/* Writes the relayed head built in c->out. */
static int write_out(wh_conn *c) {
  if (!c->out.data)
    return -1;
  uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
  return conn_write(c, &b, 1);
}

static void put_headers(wh_strbuf *o, const wh_headers *hs) {
  for (size_t i = 0; i < hs->n; i++) {
    const wh_header *f = &hs->v[i];
    wh_strbuf_append(o, f->name, f->name_len);
    wh_strbuf_puts(o, ": ");
    wh_strbuf_append(o, f->value, f->value_len);
    wh_strbuf_puts(o, "\r\n");
  }
}

/* "404" or "500-599" entries (validated at load). */
static bool status_in_entry(const char *e, int status) {
  char *end;
  long lo = strtol(e, &end, 10), hi = lo;
  if (*end == '-')
    hi = strtol(end + 1, NULL, 10);
  return status >= lo && status <= hi;
}

static bool status_listed(const wh_strlist *l, int status) {
  for (size_t i = 0; l && i < l->n; i++)
    if (status_in_entry(l->v[i], status))
      return true;
  return false;
}

static int rewritten_status(const wh_strmap *m, int status) {
  for (size_t i = 0; m && i < m->n; i++)
    if (status_in_entry(m->keys[i], status) && m->vals[i])
      return atoi(m->vals[i]);
  return status;
}

/* errors middleware: the page, from the error service at the query with
 * {status} / {originalStatus} / {url} filled in, for the request's Host and
 * headers. False when there is no such service or server (the status is
 * answered alone). */
static bool errors_fetch(wh_conn *c) {
  const wh_backend *be = c->snap ? wh_snapshot_backend(c->snap, c->errp_service) : NULL;
  const wh_lb_server *srv = be ? wh_lb_pick(be->lb, c->w->index, NULL, NULL) : NULL;
  if (!srv)
    return false;
  c->lb = be->lb;
  c->server = srv;
  c->up_tls = be->tls;
  free(c->set_cookie);
  c->set_cookie = NULL;
  c->retry_left = 0;
  c->pend.len = 0;
  c->req_chunked = false;
  char code[16], orig[16];
  snprintf(code, sizeof(code), "%d", c->errp_code);
  snprintf(orig, sizeof(orig), "%d", c->errp_orig);
  wh_strbuf *o = &c->up_head;
  o->len = 0;
  wh_strbuf_puts(o, c->is_head ? "HEAD " : "GET ");
  for (const char *q = c->errp_query; *q;) {
    if (strncmp(q, "{status}", 8) == 0) {
      wh_strbuf_puts(o, code);
      q += 8;
    } else if (strncmp(q, "{originalStatus}", 16) == 0) {
      wh_strbuf_puts(o, orig);
      q += 16;
    } else if (strncmp(q, "{url}", 5) == 0) {
      /* the original target, escaped to sit in a query string */
      put_pct(o, c->head.buf + c->head.url_off, c->head.url_len, "-._~");
      q += 5;
    } else {
      wh_strbuf_putc(o, *q++);
    }
  }
  wh_strbuf_printf(o, " HTTP/1.1\r\nHost: %s\r\n", c->host ? c->host : "");
  for (size_t i = 0; i < c->hdrs.n; i++) {
    const wh_header *f = &c->hdrs.v[i];
    if (strcasecmp(f->name, "Content-Length") == 0 ||
        strcasecmp(f->name, "Transfer-Encoding") == 0 || strcasecmp(f->name, "Expect") == 0)
      continue;
    wh_strbuf_append(o, f->name, f->name_len);
    wh_strbuf_puts(o, ": ");
    wh_strbuf_append(o, f->value, f->value_len);
    wh_strbuf_puts(o, "\r\n");
  }
  if (wh_strbuf_puts(o, "\r\n") < 0)
    return false;
  dial_server(c);
  return true;
}

/* "type/sub; charset=x" matches an entry "type/sub" (case-insensitive,
 * parameters ignored). */
static bool media_in(const char *ct, const wh_strlist *l) {
  size_t n = strcspn(ct, ";");
  while (n && ct[n - 1] == ' ')
    n--;
  for (size_t i = 0; l && i < l->n; i++) {
    const char *e = l->v[i];
    size_t en = strcspn(e, ";");
    if (en == n && strncasecmp(ct, e, n) == 0)
      return true;
  }
  return false;
}

/* The response qualifies for the compress middleware (TRAEFIK-COMPAT §4):
 * a 2xx-5xx body not already encoded, of an allowed type (gRPC never), at
 * least minResponseBodyBytes when its length is known. A body of unknown
 * length is compressed: waiting for minResponseBodyBytes would hold back
 * what the backend streams. */
static bool compress_wanted(const wh_conn *c, const wh_upstream *u, int status) {
  if (status < 200 || c->upgrade_ws || c->upgrade_other)
    return false;
  const char *ce = wh_headers_get(&u->hdrs, "Content-Encoding");
  if (ce && *ce && strcasecmp(ce, "identity") != 0)
    return false;
  if (wh_headers_get(&u->hdrs, "Content-Range"))
    return false;
  const char *ct = wh_headers_get(&u->hdrs, "Content-Type");
  if (ct && strncasecmp(ct, "application/grpc", 16) == 0)
    return false;
  if (c->cz_include && c->cz_include->n) {
    if (!ct || !media_in(ct, c->cz_include))
      return false;
  } else if (ct && media_in(ct, c->cz_exclude)) {
    return false;
  }
  if (c->resp_mode == WH_RESP_CL && (int64_t)u->parser.content_length < c->cz_min)
    return false;
  return true;
}

int wh_conn_resp_head(wh_conn *c, wh_upstream *u) {
  int status = u->status;
  if (c->errp_started && status >= 200) {
    status = c->errp_code; /* the error page goes out with the original (or rewritten) status */
  } else if (c->errp_service && !c->errp_active && c->req_done && !c->upgrade_ws && status >= 400 &&
             status_listed(c->errp_status, status)) {
    /* errors middleware: this response is replaced; its upstream is dropped
     * (wh_conn_up_failed then fetches the page) */
    c->errp_active = true;
    c->errp_code = rewritten_status(c->errp_rewrites, status);
    c->errp_orig = status;
    return -1;
  }
  wh_strbuf *o = &c->out;
  o->len = 0;
  if (status >= 100 && status < 200 && status != 101) {
    /* informational (100 Continue, 103): relayed to HTTP/1.1 clients */
    if (c->http_minor == 0)
      return 0;
    wh_hop_by_hop_strip(&u->hdrs, false);
    wh_strbuf_printf(o, "HTTP/1.1 %d %s\r\n", status, wh_http_status_reason(status));
    put_headers(o, &u->hdrs);
    wh_strbuf_puts(o, "\r\n");
    return write_out(c) < 0 ? -1 : 0;
  }
  c->up_kind = WH_UP_NONE;
  c->up_deadline = 0;
  if (!c->errp_started)
    c->obs_origin_status = u->status;
  if (c->obs_t0) {
    const char *ct = wh_headers_get(&u->hdrs, "Content-Type");
    c->obs_sse = ct && strncasecmp(ct, "text/event-stream", 17) == 0;
    /* a trailers-only gRPC answer carries its status in the head */
    const char *gs = wh_headers_get(&u->hdrs, "Grpc-Status");
    snprintf(c->obs_grpc, sizeof(c->obs_grpc), "%s", gs && strlen(gs) < 3 ? gs : "");
  }
  if (status == 101) {
    if (!c->upgrade_ws) {
      u->head.err = 502;
      return -1;
    }
    wh_hop_by_hop_strip(&u->hdrs, true);
    wh_strbuf_puts(o, "HTTP/1.1 101 Switching Protocols\r\n");
    put_headers(o, &u->hdrs);
    wh_strbuf_puts(o, "\r\n");
    c->head_sent = true;
    return write_out(c) < 0 ? -1 : 0;
  }
  bool no_body = c->is_head || status == 204 || status == 304;
  bool chunked = (u->parser.flags & F_CHUNKED) != 0;
  bool has_cl = (u->parser.flags & F_CONTENT_LENGTH) != 0;
  if (c->resp_max && !no_body && has_cl && !chunked &&
      u->parser.content_length > (uint64_t)c->resp_max) {
    c->resp_over = true; /* buffering.maxResponseBodyBytes: 500, nothing relayed */
    return -1;
  }
  if (no_body)
    c->resp_mode = WH_RESP_NONE;
  else if (has_cl && !chunked)
    c->resp_mode = WH_RESP_CL;
  else if (c->http_minor >= 1)
    c->resp_mode = WH_RESP_CHUNKED;
  else {
    c->resp_mode = WH_RESP_RAW; /* HTTP/1.0 client: the close ends the body */
    c->close_after = true;
  }
  if (c->upgrade_ws)
    c->close_after = true; /* a refused upgrade: nothing reliable follows */
  wh_hop_by_hop_strip(&u->hdrs, false);
  if (c->resp_mode == WH_RESP_CHUNKED)
    wh_headers_remove(&u->hdrs, "Content-Length");
  c->status = status;
  if (c->cz_enc && !no_body && compress_wanted(c, u, status)) {
    c->cz = wh_compressor_new((wh_encoding)c->cz_enc);
    if (c->cz) {
      wh_headers_remove(&u->hdrs, "Content-Length");
      wh_headers_set(&u->hdrs, "Content-Encoding", wh_encoding_name((wh_encoding)c->cz_enc));
      if (c->resp_mode == WH_RESP_CL)
        c->resp_mode = c->http_minor >= 1 ? WH_RESP_CHUNKED : WH_RESP_RAW;
      if (c->resp_mode == WH_RESP_RAW)
        c->close_after = true;
    }
  }
  if (c->cz_enc && !no_body) {
    /* the answer depends on Accept-Encoding whether compressed or not */
    const char *vary = wh_headers_get(&u->hdrs, "Vary");
    if (!vary || !strcasestr(vary, "Accept-Encoding")) {
      char *v = vary && *vary ? wh_asprintf("%s, Accept-Encoding", vary) : NULL;
      wh_headers_set(&u->hdrs, "Vary", v ? v : "Accept-Encoding");
      free(v);
    }
  }
  if (c->nedits) {
    const char *cl = c->resp_mode == WH_RESP_CL ? wh_headers_get(&u->hdrs, "Content-Length") : NULL;
    char *keep = cl ? wh_strdup(cl) : NULL;
    wh_resp_edits_apply(c->edits, c->nedits, &u->hdrs);
    /* framing stays the proxy's: an edit cannot touch it */
    wh_hop_by_hop_strip(&u->hdrs, false);
    if (keep)
      wh_headers_set(&u->hdrs, "Content-Length", keep);
    else
      wh_headers_remove(&u->hdrs, "Content-Length");
    free(keep);
  }
  wh_strbuf_printf(o, "HTTP/1.1 %d %s\r\n", status, wh_http_status_reason(status));
  put_headers(o, &u->hdrs);
  if (c->obs_t0 && c->obs_resp_hdrs)
    for (size_t i = 0; i < u->hdrs.n; i++)
      wh_headers_add(c->obs_resp_hdrs, u->hdrs.v[i].name, u->hdrs.v[i].name_len, u->hdrs.v[i].value,
                     u->hdrs.v[i].value_len);
  if (!wh_headers_get(&u->hdrs, "Date"))
    wh_strbuf_printf(o, "Date: %s\r\n", wh_worker_date(c->w));
  if (c->set_cookie)
    wh_strbuf_printf(o, "Set-Cookie: %s\r\n", c->set_cookie);
  if (c->resp_mode == WH_RESP_CHUNKED)
    wh_strbuf_puts(o, "Transfer-Encoding: chunked\r\n");
  if (c->close_after || c->w->draining)
    wh_strbuf_puts(o, "Connection: close\r\n");
  else if (c->http_minor == 0)
    wh_strbuf_puts(o, "Connection: keep-alive\r\n");
  wh_strbuf_puts(o, "\r\n");
  c->head_sent = true;
  if (c->lb && c->server)
    wh_lb_report(c->lb, c->server, false);
  /* The head goes out with the first body bytes (one write instead of two),
   * or when the read that carried it has been parsed (wh_conn_flush_head). */
  c->head_pending = true;
  return no_body ? 1 : 0;
}

void wh_conn_flush_head(wh_conn *c) {
  if (!c->head_pending || c->dead)
    return;
  c->head_pending = false;
  write_out(c);
}

int wh_conn_resp_body(wh_conn *c, const char *at, size_t len) {
  if (c->dead)
    return -1;
  if (c->resp_mode == WH_RESP_NONE)
    return 0;
  c->obs_origin_bytes += len;
  if (c->resp_max) {
    /* a body of unknown length over the limit: the head is gone already,
     * so the client sees the response aborted, never a clean end */
    c->resp_bytes += len;
    if (c->resp_bytes > (uint64_t)c->resp_max)
      return -1;
  }
  if (c->cz) {
    c->czbuf.len = 0;
    if (wh_compressor_write(c->cz, at, len, &c->czbuf) < 0)
      return -1;
    if (c->czbuf.len == 0)
      return 0;
    at = c->czbuf.data;
    len = c->czbuf.len;
  }
  c->obs_down_bytes += len;
  uv_buf_t b[4];
  unsigned n = 0;
  if (c->head_pending) {
    c->head_pending = false;
    b[n++] = uv_buf_init(c->out.data, (unsigned)c->out.len);
  }
  char pre[24];
  if (c->resp_mode == WH_RESP_CHUNKED) {
    chunk_prefix(pre, sizeof(pre), len);
    b[n++] = uv_buf_init(pre, (unsigned)strlen(pre));
    b[n++] = uv_buf_init((char *)at, (unsigned)len);
    b[n++] = uv_buf_init("\r\n", 2);
  } else {
    b[n++] = uv_buf_init((char *)at, (unsigned)len);
  }
  return conn_write(c, b, n);
}

void wh_conn_resp_done(wh_conn *c, wh_upstream *u) {
  if (c->cz) {
    /* the end of the encoded stream, as one last chunk (or raw bytes) */
    wh_compressor *z = c->cz;
    c->cz = NULL;
    wh_strbuf tail = {0};
    int rc = wh_compressor_finish(z, &tail);
    wh_compressor_free(z);
    if (rc < 0 || (tail.len && wh_conn_resp_body(c, tail.data, tail.len) < 0)) {
      wh_strbuf_free(&tail);
      conn_destroy(c, true);
      return;
    }
    wh_strbuf_free(&tail);
  }
  if (c->resp_mode == WH_RESP_CHUNKED) {
    wh_strbuf *o = &c->out;
    if (!c->head_pending)
      o->len = 0; /* else the terminator follows the head in one write */
    c->head_pending = false;
    wh_strbuf_puts(o, "0\r\n");
    for (size_t i = 0; i < u->head.n; i++) {
      const wh_hspan *s = &u->head.f[i];
      wh_strbuf_append(o, u->head.buf + s->no, s->nl);
      wh_strbuf_puts(o, ": ");
      wh_strbuf_append(o, u->head.buf + s->vo, s->vl);
      wh_strbuf_puts(o, "\r\n");
    }
    wh_strbuf_puts(o, "\r\n");
    if (write_out(c) < 0)
      return;
  }
  wh_conn_flush_head(c);
  c->resp_done = true;
  if (c->obs_t0)
    c->obs_up_t1 = uv_hrtime();
  c->wr_deadline = 0;
  c->up_kind = WH_UP_NONE;
  c->up_deadline = 0;
  if (!c->req_done) {
    /* answered before the whole request arrived: the backend connection
     * cannot be reused and the client's remaining bytes are not read */
    c->close_after = true;
    detach_upstream(c, false);
    wh_conn_close(c);
    return;
  }
  maybe_finish(c);
}

/* ---- accepting, deadlines, drain ---- */

void wh_conn_on_accept(uv_stream_t *ls, int status) {
  wh_listener *l = ls->data;
  wh_worker *w = l->w;
  if (status < 0)
    return;
  wh_conn *c = w->free_conns;
  if (c) {
    w->free_conns = c->next;
    w->nfree--;
  } else {
    c = calloc(1, sizeof(*c));
    if (c)
      wh_headers_init(&c->hdrs);
  }
  bool over = atomic_load(&w->nconns) >= WH_WORKER_MAX_CONNS || w->stopping;
  if (!c || over) {
    /* Accept and drop: an unaccepted connection would stall the listener. */
    uv_tcp_t *tmp = malloc(sizeof(*tmp));
    if (tmp && uv_tcp_init(&w->loop, tmp) == 0) {
      if (uv_accept(ls, (uv_stream_t *)tmp) == 0)
        uv_tcp_close_reset(tmp, (uv_close_cb)free);
      else
        uv_close((uv_handle_t *)tmp, (uv_close_cb)free);
    } else {
      free(tmp);
    }
    if (c) {
      c->next = w->free_conns;
      w->free_conns = c;
      w->nfree++;
    }
    return;
  }
  /* keep the reusable buffers, reset everything else */
  wh_head head = c->head;
  wh_headers hdrs = c->hdrs;
  wh_strbuf up_head = c->up_head, out = c->out, pend = c->pend;
  char *tail = c->tail, **hn = c->hn, **hv = c->hv;
  size_t tail_cap = c->tail_cap, hcap = c->hcap;
  memset(c, 0, sizeof(*c));
  c->head = head;
  c->hdrs = hdrs;
  c->up_head = up_head;
  c->out = out;
  c->pend = pend;
  c->tail = tail;
  c->tail_cap = tail_cap;
  c->hn = hn;
  c->hv = hv;
  c->hcap = hcap;
  c->w = w;
  c->ep = l->ep;
  uv_tcp_init(&w->loop, &c->tcp);
  c->tcp.data = c;
  c->next = w->conns;
  if (w->conns)
    w->conns->prev = c;
  w->conns = c;
  atomic_fetch_add(&w->nconns, 1);
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
    conn_destroy(c, false);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (wh_observe_global()) {
    c->obs_counted = true;
    wh_observe_conn(wh_observe_global(), w->index, c->ep->index, 1);
  }
  int alen = sizeof(c->peer);
  uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &alen);
  llhttp_init(&c->parser, HTTP_REQUEST, &req_settings);
  c->parser.data = c;
  c->rd_kind = WH_RD_FIRST;
  c->rd_deadline = c->ep->read_ms ? wh_worker_now(w) + c->ep->read_ms : 0;
  if (c->ep->pp_enabled &&
      (c->ep->pp_insecure ||
       (c->ep->pp_trusted && wh_ipset_contains(c->ep->pp_trusted, (struct sockaddr *)&c->peer))))
    c->sniff = WH_SNIFF_PROXY;
  wh_conn_update_reading(c);
  if (!c->reading)
    conn_destroy(c, false);
}

void wh_conn_check_deadlines(wh_conn *c, uint64_t now) {
  if (c->dead)
    return;
  if (c->rd_deadline && now >= c->rd_deadline) {
    c->rd_deadline = 0;
    switch (c->rd_kind) {
    case WH_RD_HEAD:
    case WH_RD_BODY:
      /* HARDENING 10, 26, 27: 408 when nothing was answered yet */
      fail_and_close(c, 408);
      return;
    default:
      conn_destroy(c, false);
      return;
    }
  }
  if (c->up_deadline && now >= c->up_deadline) {
    c->up_deadline = 0;
    if (c->up_kind == WH_UP_TUNNEL) {
      conn_destroy(c, false);
      return;
    }
    c->up_kind = WH_UP_NONE;
    c->retried = true; /* a timeout is not retried */
    wh_conn_up_failed(c, 504, false);
    return;
  }
  if (c->wr_deadline && now >= c->wr_deadline && !c->tunnel) {
    c->wr_deadline = 0;
    if (!c->head_sent)
      fail_and_close(c, 504);
    else
      conn_destroy(c, true);
  }
}

void wh_conn_drain(wh_conn *c) {
  if (c->dead)
    return;
  if (c->closing) {
    uint64_t until = wh_worker_now(c->w) + WH_DRAIN_LINGER_MS;
    if (c->rd_kind == WH_RD_LINGER && c->rd_deadline > until)
      c->rd_deadline = until;
    return;
  }
  if (!c->in_msg && !c->tunnel)
    wh_conn_close(c);
  else
    c->close_after = true;
}
