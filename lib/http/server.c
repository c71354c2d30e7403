#include "lib/http/server.h"

#include <ctype.h>
#include <errno.h>
#include <llhttp.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/core/err.h"

#define WH_HTTP_READ_BUF (64 * 1024)
/* How long a closing connection may take to flush its last response and
 * deliver its FIN before it is reset. */
#define WH_HTTP_LINGER_MS 5000

typedef struct wh_http_conn wh_http_conn;

struct wh_http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  wh_http_handler_fn fn;
  void *ctx;
  wh_http_limits limits;
  int port;
  bool stopping;
  bool listener_closed;
  wh_http_conn *conns; /* doubly linked, every connection until its handles are closed */
  size_t nconns;
  time_t date_sec;
  char date[64];
  /* One read buffer for every connection: each read is parsed to the end
   * before the loop can call another alloc callback, and everything a
   * request keeps is copied out by the parser callbacks. */
  char rbuf[WH_HTTP_READ_BUF];
};

struct wh_http_conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown;
  wh_http_server *srv;
  wh_http_conn *prev, *next;
  llhttp_t parser;
  struct sockaddr_storage peer;
  int open_handles;
  bool destroying; /* uv_close called on the handles */
  bool closing;    /* last response queued; waiting for flush and peer EOF */
  bool shutdown_done;
  bool got_eof;
  bool read_paused; /* backpressure: too much queued for writing */
  bool in_message;  /* bytes of a request received, response not yet queued */
  bool keep_alive;  /* of the current request, from its headers */
  int err_status;   /* status for a limit or semantic error found in a callback */
  /* the request being parsed (copies: the read buffer is shared) */
  wh_strbuf url, field, value, body;
  char **names, **values;
  size_t nhdr, caphdr;
  size_t head_bytes;
};

typedef struct wh_http_write {
  uv_write_t req;
  wh_http_conn *conn;
  char data[];
} wh_http_write;

void wh_http_limits_default(wh_http_limits *l) {
  l->max_head_bytes = 64 * 1024;
  l->max_headers = 100;
  l->max_body_bytes = 1024 * 1024;
  l->head_timeout_ms = 10 * 1000;
  l->idle_timeout_ms = 60 * 1000;
  l->max_write_queue = 1024 * 1024;
}

/* ---- lifetime ---- */

static void server_maybe_free(wh_http_server *s) {
  if (s->listener_closed && s->nconns == 0)
    free(s);
}

static void request_reset(wh_http_conn *c) {
  for (size_t i = 0; i < c->nhdr; i++) {
    free(c->names[i]);
    free(c->values[i]);
  }
  c->nhdr = 0;
  wh_strbuf_free(&c->url);
  wh_strbuf_free(&c->field);
  wh_strbuf_free(&c->value);
  wh_strbuf_free(&c->body);
  c->head_bytes = 0;
  c->err_status = 0;
}

static void conn_handle_closed(uv_handle_t *h) {
  wh_http_conn *c = h->data;
  if (--c->open_handles > 0)
    return;
  wh_http_server *s = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconns--;
  request_reset(c);
  free(c->names);
  free(c->values);
  free(c);
  server_maybe_free(s);
}

/* Immediate close: pending writes are cancelled. */
static void conn_destroy(wh_http_conn *c) {
  if (c->destroying)
    return;
  c->destroying = true;
  uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
  uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

static void on_linger_timeout(uv_timer_t *t) {
  conn_destroy(t->data);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  wh_http_conn *c = req->data;
  if (status == UV_ECANCELED)
    return; /* the connection is being destroyed */
  c->shutdown_done = true;
  if (status < 0 || c->got_eof)
    conn_destroy(c);
  /* else: keep draining until the peer closes or the linger deadline, so
   * that unread request bytes do not turn our FIN into a reset that could
   * destroy the response before the peer reads it. */
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Graceful close after the last queued response. */
static void conn_close(wh_http_conn *c) {
  if (c->closing || c->destroying)
    return;
  c->closing = true;
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
    conn_destroy(c);
    return;
  }
  if (c->read_paused && !c->got_eof) {
    c->read_paused = false;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
  uv_timer_start(&c->timer, on_linger_timeout, WH_HTTP_LINGER_MS, 0);
}

/* ---- writing ---- */

static void refresh_date(wh_http_server *s) {
  time_t now = time(NULL);
  if (now == s->date_sec && s->date[0])
    return;
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  s->date_sec = now;
}

static void on_write(uv_write_t *req, int status) {
  wh_http_write *w = (wh_http_write *)req;
  wh_http_conn *c = w->conn;
  free(w);
  if (status < 0) {
    if (status != UV_ECANCELED)
      conn_destroy(c);
    return;
  }
  if (c->read_paused && !c->closing && !c->destroying &&
      c->tcp.write_queue_size <= c->srv->limits.max_write_queue) {
    c->read_paused = false;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
  }
}

static int conn_write(wh_http_conn *c, const char *data, size_t len) {
  wh_http_write *w = malloc(sizeof(*w) + len);
  if (!w)
    return WH_ENOMEM;
  w->conn = c;
  memcpy(w->data, data, len);
  uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
    free(w);
    return WH_EIO;
  }
  if (!c->read_paused && c->tcp.write_queue_size > c->srv->limits.max_write_queue) {
    c->read_paused = true;
    uv_read_stop((uv_stream_t *)&c->tcp);
  }
  return 0;
}

static bool header_text_ok(const char *s) {
  for (; *s; s++)
    if (*s == '\r' || *s == '\n')
      return false;
  return true;
}

static bool server_owned_header(const char *name) {
  return wh_strcaseeq(name, "Content-Length") || wh_strcaseeq(name, "Connection") ||
         wh_strcaseeq(name, "Date") || wh_strcaseeq(name, "Transfer-Encoding");
}

/* Serialises and queues a response. head_only: HEAD request. */
static void send_response(wh_http_conn *c, const wh_http_resp *r, bool head_only, int http_minor,
                          bool close) {
  int status = r->status ? r->status : 200;
  bool no_body = (status >= 100 && status < 200) || status == 204 || status == 304;
  wh_strbuf out = {0};
  refresh_date(c->srv);
  wh_strbuf_printf(&out, "HTTP/1.1 %d %s\r\n", status, wh_http_status_reason(status));
  for (size_t i = 0; i < r->nheaders; i++) {
    /* A handler cannot split the response or contradict the framing. */
    if (server_owned_header(r->hdr_names[i]) || !header_text_ok(r->hdr_names[i]) ||
        !header_text_ok(r->hdr_values[i]) || !r->hdr_names[i][0])
      continue;
    wh_strbuf_printf(&out, "%s: %s\r\n", r->hdr_names[i], r->hdr_values[i]);
  }
  if (!no_body)
    wh_strbuf_printf(&out, "Content-Length: %zu\r\n", r->body.len);
  wh_strbuf_printf(&out, "Date: %s\r\n", c->srv->date);
  if (close)
    wh_strbuf_puts(&out, "Connection: close\r\n");
  else if (http_minor == 0)
    wh_strbuf_puts(&out, "Connection: keep-alive\r\n");
  wh_strbuf_puts(&out, "\r\n");
  if (!no_body && !head_only && r->body.len)
    wh_strbuf_append(&out, r->body.data, r->body.len);
  if (!out.data || conn_write(c, out.data, out.len) < 0)
    conn_destroy(c);
  wh_strbuf_free(&out);
}

static void send_error(wh_http_conn *c, int status) {
  wh_http_resp r;
  wh_http_resp_init(&r);
  char text[96];
  snprintf(text, sizeof(text), "%d %s", status, wh_http_status_reason(status));
  wh_http_resp_text(&r, status, text);
  send_response(c, &r, false, 1, true);
  wh_http_resp_free(&r);
  c->in_message = false;
  conn_close(c);
}

/* ---- parsing ---- */

static wh_http_conn *conn_of(llhttp_t *p) {
  return p->data;
}

static int fail(llhttp_t *p, int status, const char *reason) {
  conn_of(p)->err_status = status;
  llhttp_set_error_reason(p, reason);
  return HPE_USER;
}

static int count_head(llhttp_t *p, size_t len) {
  wh_http_conn *c = conn_of(p);
  c->head_bytes += len;
  return c->head_bytes > c->srv->limits.max_head_bytes ? fail(p, 431, "head too large") : 0;
}

static void on_head_timeout(uv_timer_t *t);

static int cb_message_begin(llhttp_t *p) {
  wh_http_conn *c = conn_of(p);
  request_reset(c);
  c->in_message = true;
  uv_timer_start(&c->timer, on_head_timeout, c->srv->limits.head_timeout_ms, 0);
  return 0;
}

static int cb_url(llhttp_t *p, const char *at, size_t len) {
  if (count_head(p, len))
    return HPE_USER;
  return wh_strbuf_append(&conn_of(p)->url, at, len) ? fail(p, 500, "oom") : 0;
}

static int cb_header_field(llhttp_t *p, const char *at, size_t len) {
  if (count_head(p, len + 4)) /* ": " and CRLF */
    return HPE_USER;
  return wh_strbuf_append(&conn_of(p)->field, at, len) ? fail(p, 500, "oom") : 0;
}

static int cb_header_field_complete(llhttp_t *p) {
  wh_http_conn *c = conn_of(p);
  if (c->nhdr + 1 > c->srv->limits.max_headers)
    return fail(p, 431, "too many headers");
  return 0;
}

static int cb_header_value(llhttp_t *p, const char *at, size_t len) {
  if (count_head(p, len))
    return HPE_USER;
  return wh_strbuf_append(&conn_of(p)->value, at, len) ? fail(p, 500, "oom") : 0;
}

static int cb_header_value_complete(llhttp_t *p) {
  wh_http_conn *c = conn_of(p);
  if (c->nhdr == c->caphdr) {
    size_t cap = c->caphdr ? c->caphdr * 2 : 16;
    char **n = realloc(c->names, cap * sizeof(*n));
    if (!n)
      return fail(p, 500, "oom");
    c->names = n;
    char **v = realloc(c->values, cap * sizeof(*v));
    if (!v)
      return fail(p, 500, "oom");
    c->values = v;
    c->caphdr = cap;
  }
  char *name = wh_strbuf_take(&c->field), *value = wh_strbuf_take(&c->value);
  if (!name || !value) {
    free(name);
    free(value);
    return fail(p, 500, "oom");
  }
  c->names[c->nhdr] = name;
  c->values[c->nhdr] = value;
  c->nhdr++;
  return 0;
}

static bool host_ok(const char *h) {
  if (!*h)
    return true; /* empty Host is allowed by RFC 9112 when the target has no authority */
  for (const unsigned char *s = (const unsigned char *)h; *s; s++)
    if (*s <= 32 || *s >= 127 || *s == '/' || *s == '\\')
      return false;
  return strstr(h, "..") == NULL;
}

static int cb_headers_complete(llhttp_t *p) {
  wh_http_conn *c = conn_of(p);
  const wh_http_limits *lim = &c->srv->limits;
  size_t hosts = 0;
  const char *host = NULL;
  bool expect_continue = false;
  for (size_t i = 0; i < c->nhdr; i++) {
    if (wh_strcaseeq(c->names[i], "Host")) {
      hosts++;
      host = c->values[i];
    } else if (wh_strcaseeq(c->names[i], "Expect")) {
      if (!wh_strcaseeq(c->values[i], "100-continue")) {
        c->err_status = 417;
        return -1;
      }
      expect_continue = true;
    }
  }
  int minor = llhttp_get_http_minor(p);
  if (llhttp_get_http_major(p) != 1 || hosts > 1 || (hosts == 0 && minor >= 1) ||
      (host && !host_ok(host))) {
    c->err_status = 400;
    return -1;
  }
  /* Fragments never belong in a request-target (RFC 9112 §3.2). */
  if (memchr(wh_strbuf_cstr(&c->url), '#', c->url.len)) {
    c->err_status = 400;
    return -1;
  }
  if ((p->flags & F_CONTENT_LENGTH) && p->content_length > lim->max_body_bytes) {
    c->err_status = 413;
    return -1;
  }
  c->keep_alive = llhttp_should_keep_alive(p) && !llhttp_get_upgrade(p);
  if (expect_continue && minor >= 1 &&
      ((p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0))) {
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (conn_write(c, cont, sizeof(cont) - 1) < 0)
      return fail(p, 500, "write");
  }
  return 0;
}

static int cb_body(llhttp_t *p, const char *at, size_t len) {
  wh_http_conn *c = conn_of(p);
  if (c->body.len + len > c->srv->limits.max_body_bytes)
    return fail(p, 413, "body too large");
  return wh_strbuf_append(&c->body, at, len) ? fail(p, 500, "oom") : 0;
}

/* path and query of a request-target; *path_out is malloc'd. */
static int split_target(const char *target, char **path_out, const char **query_out) {
  const char *t = target;
  if (wh_str_has_caseprefix(t, "http://") || wh_str_has_caseprefix(t, "https://")) {
    t = strstr(t, "://") + 3;
    t += strcspn(t, "/?");
  }
  size_t plen = strcspn(t, "?");
  *query_out = t[plen] == '?' ? t + plen + 1 : NULL;
  *path_out = plen ? wh_strndup(t, plen) : strdup("/");
  return *path_out ? 0 : WH_ENOMEM;
}

static int cb_message_complete(llhttp_t *p) {
  wh_http_conn *c = conn_of(p);
  wh_http_server *s = c->srv;
  wh_http_req req;
  memset(&req, 0, sizeof(req));
  req.method = llhttp_method_name((llhttp_method_t)llhttp_get_method(p));
  req.target = wh_strbuf_cstr(&c->url);
  char *path = NULL;
  if (split_target(req.target, &path, &req.query) < 0)
    return fail(p, 500, "oom");
  req.path = path;
  req.nheaders = c->nhdr;
  req.hdr_names = c->names;
  req.hdr_values = c->values;
  req.host = wh_http_req_header(&req, "Host");
  req.body = wh_strbuf_cstr(&c->body);
  req.body_len = c->body.len;
  req.peer = c->peer;
  req.http_minor = llhttp_get_http_minor(p);
  req.keep_alive = c->keep_alive && !s->stopping;

  wh_http_resp resp;
  wh_http_resp_init(&resp);
  s->fn(s->ctx, &req, &resp);
  bool close = !req.keep_alive || resp.close;
  send_response(c, &resp, p->method == HTTP_HEAD, req.http_minor, close);
  wh_http_resp_free(&resp);
  free(path);
  request_reset(c);
  c->in_message = false;
  if (close || c->destroying) {
    conn_close(c);
    return HPE_PAUSED; /* the rest of the pipeline is discarded */
  }
  uv_timer_start(&c->timer, on_head_timeout, s->limits.idle_timeout_ms, 0);
  return 0;
}

static const llhttp_settings_t *parser_settings(void) {
  static llhttp_settings_t st;
  static bool ready;
  if (!ready) {
    llhttp_settings_init(&st);
    st.on_message_begin = cb_message_begin;
    st.on_url = cb_url;
    st.on_header_field = cb_header_field;
    st.on_header_field_complete = cb_header_field_complete;
    st.on_header_value = cb_header_value;
    st.on_header_value_complete = cb_header_value_complete;
    st.on_headers_complete = cb_headers_complete;
    st.on_body = cb_body;
    st.on_message_complete = cb_message_complete;
    ready = true;
  }
  return &st;
}

/* Fires for the head deadline (a request in progress: 408) and for the idle
 * keep-alive deadline (nothing in progress: close quietly). */
static void on_head_timeout(uv_timer_t *t) {
  wh_http_conn *c = t->data;
  if (c->in_message)
    send_error(c, 408);
  else
    conn_destroy(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)suggested;
  wh_http_conn *c = h->data;
  *buf = uv_buf_init(c->srv->rbuf, sizeof(c->srv->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  wh_http_conn *c = st->data;
  if (nread == 0 || c->destroying)
    return;
  if (nread < 0) {
    c->got_eof = true;
    if (nread != UV_EOF || (c->closing && c->shutdown_done))
      conn_destroy(c);
    else if (!c->closing)
      conn_close(c); /* flush what is queued, then close; a partial request gets nothing */
    return;
  }
  if (c->closing)
    return; /* draining after the last response */
  llhttp_errno_t e = llhttp_execute(&c->parser, buf->base, (size_t)nread);
  if (e == HPE_OK || c->closing || c->destroying)
    return;
  if (e == HPE_PAUSED_UPGRADE) {
    conn_close(c);
    return;
  }
  send_error(c, c->err_status ? c->err_status : 400);
}

/* ---- accepting ---- */

static void free_handle(uv_handle_t *h) {
  free(h);
}

static void on_connection(uv_stream_t *ls, int status) {
  wh_http_server *s = ls->data;
  if (status < 0 || s->stopping)
    return;
  wh_http_conn *c = calloc(1, sizeof(*c));
  if (!c) {
    /* Accept and drop: an unaccepted connection would stall the listener. */
    uv_tcp_t *tmp = malloc(sizeof(*tmp));
    if (tmp && uv_tcp_init(s->loop, tmp) == 0) {
      uv_accept(ls, (uv_stream_t *)tmp);
      uv_close((uv_handle_t *)tmp, free_handle);
    } else {
      free(tmp);
    }
    return;
  }
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->open_handles = 2;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
    conn_destroy(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  int alen = sizeof(c->peer);
  uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer, &alen);
  llhttp_init(&c->parser, HTTP_REQUEST, parser_settings());
  c->parser.data = c;
  if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0) {
    conn_destroy(c);
    return;
  }
  /* The first request must start within the head deadline. */
  uv_timer_start(&c->timer, on_head_timeout, s->limits.head_timeout_ms, 0);
}

static void on_listener_closed(uv_handle_t *h) {
  wh_http_server *s = h->data;
  s->listener_closed = true;
  server_maybe_free(s);
}

static bool ipv6_available(void) {
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0)
    return false;
  close(fd);
  return true;
}

static int resolve(const char *host, int port, struct sockaddr_storage *ss, char *err,
                   size_t errlen) {
  memset(ss, 0, sizeof(*ss));
  char buf[256];
  if (!host || !*host)
    host = ipv6_available() ? "::" : "0.0.0.0";
  size_t n = strlen(host);
  if (n >= sizeof(buf)) {
    snprintf(err, errlen, "host too long");
    return WH_EINVAL;
  }
  if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
  } else {
    memcpy(buf, host, n + 1);
  }
  if (uv_ip4_addr(buf, port, (struct sockaddr_in *)ss) == 0 ||
      uv_ip6_addr(buf, port, (struct sockaddr_in6 *)ss) == 0)
    return 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(buf, NULL, &hints, &res);
  if (rc != 0 || !res) {
    snprintf(err, errlen, "cannot resolve %s: %s", buf, gai_strerror(rc));
    return WH_EINVAL;
  }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

wh_http_server *wh_http_server_start(uv_loop_t *loop, const char *host, int port,
                                     const wh_http_limits *limits, wh_http_handler_fn fn, void *ctx,
                                     char *err, size_t errlen) {
  if (port < 0 || port > 65535) {
    snprintf(err, errlen, "invalid port %d", port);
    return NULL;
  }
  struct sockaddr_storage ss;
  if (resolve(host, port, &ss, err, errlen) < 0)
    return NULL;
  wh_http_server *s = calloc(1, sizeof(*s));
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  s->loop = loop;
  s->fn = fn;
  s->ctx = ctx;
  if (limits)
    s->limits = *limits;
  else
    wh_http_limits_default(&s->limits);
  int rc = uv_tcp_init(loop, &s->listener);
  if (rc < 0) {
    snprintf(err, errlen, "tcp init: %s", uv_strerror(rc));
    free(s);
    return NULL;
  }
  s->listener.data = s;
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
  if (rc == 0) {
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &blen);
    if (rc == 0)
      s->port = ntohs(bound.ss_family == AF_INET ? ((struct sockaddr_in *)&bound)->sin_port
                                                 : ((struct sockaddr_in6 *)&bound)->sin6_port);
  }
  if (rc < 0) {
    snprintf(err, errlen, "listen on %s:%d: %s", host && *host ? host : "*", port, uv_strerror(rc));
    s->stopping = true;
    uv_close((uv_handle_t *)&s->listener, on_listener_closed);
    return NULL;
  }
  return s;
}

int wh_http_server_port(const wh_http_server *s) {
  return s->port;
}

size_t wh_http_server_connections(const wh_http_server *s) {
  return s->nconns;
}

void wh_http_server_stop(wh_http_server *s) {
  if (!s || s->stopping)
    return;
  s->stopping = true;
  for (wh_http_conn *c = s->conns; c; c = c->next)
    conn_destroy(c);
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
}
