#include "providers/docker/engine.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/net/curl_dl.h"

/* Set by wh_engine_new before any other curl call here. */
static const wh_curl_api *curl_api;
#define CURLAPI curl_api

struct wh_engine_req {
  wh_engine *e;
  CURL *easy;
  bool stream, cancelled, added;
  bool failed_cap; /* the answer or a line went over its cap */
  long status;     /* known once the headers are in (streams) */
  long depth;      /* of the partial element of a stream */
  bool in_str, esc;
  wh_engine_done_fn done;
  wh_engine_line_fn on_line;
  void *ud;
  char *buf; /* body, or the partial line of a stream */
  size_t len, cap;
  char errbuf[CURL_ERROR_SIZE];
  wh_engine_req *prev, *next;
};

typedef struct sock_ctx {
  uv_poll_t poll;
  curl_socket_t fd;
  wh_engine *e;
  struct sock_ctx *prev, *next;
} sock_ctx;

struct wh_engine {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t timeout;
  char *base_url; /* "http://localhost" for a Unix socket */
  char *unix_path;
  char *ca, *cert, *key, *username, *password, *user_agent;
  bool insecure;
  int64_t timeout_ms;
  wh_engine_req *reqs;
  sock_ctx *socks;
  /* >0 while libcurl is running our callbacks: requests cannot be removed
   * from the multi handle then, and the engine cannot be freed. */
  int depth;
  bool closing, torn_down;
  void (*closed)(void *);
  void *closed_ud;
};

/* ---- requests ---- */

static void req_unlink(wh_engine *e, wh_engine_req *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    e->reqs = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

static void req_free(wh_engine_req *r) {
  wh_engine *e = r->e;
  if (r->easy) {
    if (r->added)
      CURLAPI->multi_remove_handle(e->multi, r->easy);
    CURLAPI->easy_cleanup(r->easy);
  }
  req_unlink(e, r);
  free(r->buf);
  free(r);
}

/* Appends to r->buf, keeping it NUL-terminated; false beyond limit. */
static bool buf_append(wh_engine_req *r, const char *p, size_t n, size_t limit) {
  if (r->len + n > limit)
    return false;
  if (r->len + n + 1 > r->cap) {
    size_t cap = r->cap ? r->cap : 4096;
    while (cap < r->len + n + 1)
      cap *= 2;
    if (cap > limit + 1)
      cap = limit + 1;
    char *nb = realloc(r->buf, cap);
    if (!nb)
      return false;
    r->buf = nb;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, p, n);
  r->len += n;
  r->buf[r->len] = '\0';
  return true;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud) {
  wh_engine_req *r = ud;
  size_t n = size * nmemb;
  if (r->cancelled || r->e->closing)
    return 0; /* aborts the transfer */
  if (r->stream && r->status == 0)
    CURLAPI->easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->status);
  if (!r->stream || r->status < 200 || r->status > 299) {
    if (!buf_append(r, p, n, WH_ENGINE_MAX_BODY)) {
      r->failed_cap = true;
      return 0;
    }
    return n;
  }
  /* An element ends at a newline (Docker writes one JSON value per line) or
   * where a top-level object or array closes (engines and proxies that do
   * not write the newline). Raw newlines never occur inside compact JSON. */
  for (size_t i = 0; i < n; i++) {
    char c = p[i];
    bool end = false;
    if (c == '\n') {
      end = true;
    } else {
      if (!buf_append(r, &c, 1, WH_ENGINE_MAX_LINE)) {
        r->failed_cap = true;
        return 0;
      }
      if (r->in_str) {
        if (r->esc)
          r->esc = false;
        else if (c == '\\')
          r->esc = true;
        else if (c == '"')
          r->in_str = false;
      } else if (c == '"') {
        r->in_str = true;
      } else if (c == '{' || c == '[') {
        r->depth++;
      } else if ((c == '}' || c == ']') && --r->depth <= 0) {
        end = true;
      }
    }
    if (!end)
      continue;
    size_t len = r->len;
    size_t off = 0;
    while (off < len && (r->buf[off] == ' ' || r->buf[off] == '\r' || r->buf[off] == '\t'))
      off++;
    while (len > off && (r->buf[len - 1] == '\r' || r->buf[len - 1] == ' '))
      len--;
    r->len = 0;
    r->depth = 0;
    r->in_str = r->esc = false;
    if (len > off) {
      r->buf[len] = '\0';
      r->on_line(r->ud, r->buf + off, len - off);
      if (r->cancelled || r->e->closing)
        return 0;
    }
  }
  return n;
}

static void finish(wh_engine_req *r, CURLcode rc) {
  wh_engine *e = r->e;
  long status = 0;
  CURLAPI->easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  char err[CURL_ERROR_SIZE + 64];
  const char *why = NULL;
  bool ok2xx = status >= 200 && status <= 299;
  if (r->failed_cap) {
    snprintf(err, sizeof(err), "%s over %u MiB", r->stream && ok2xx ? "event line" : "answer",
             (r->stream && ok2xx ? WH_ENGINE_MAX_LINE : WH_ENGINE_MAX_BODY) >> 20);
    why = err;
  } else if (rc != CURLE_OK) {
    snprintf(err, sizeof(err), "%s", r->errbuf[0] ? r->errbuf : CURLAPI->easy_strerror(rc));
    why = err;
  }
  if (why)
    status = 0;
  const char *body = "";
  size_t len = 0;
  if (!why && !(r->stream && ok2xx) && r->buf) {
    body = r->buf;
    len = r->len;
  }
  CURLAPI->multi_remove_handle(e->multi, r->easy);
  r->added = false;
  r->cancelled = true; /* nothing more for this request, whatever done does */
  r->done(r->ud, status, body, len, why);
  req_free(r);
}

static wh_engine_req *start(wh_engine *e, const char *path, bool stream, wh_engine_line_fn on_line,
                            wh_engine_done_fn done, void *ud) {
  if (!e || e->closing)
    return NULL;
  wh_engine_req *r = calloc(1, sizeof(*r));
  char *url = wh_asprintf("%s%s", e->base_url, path);
  CURL *h = r && url ? CURLAPI->easy_init() : NULL;
  if (!h) {
    free(r);
    free(url);
    return NULL;
  }
  r->e = e;
  r->easy = h;
  r->stream = stream;
  r->on_line = on_line;
  r->done = done;
  r->ud = ud;
  CURLAPI->easy_setopt(h, CURLOPT_URL, url);
  free(url);
  CURLAPI->easy_setopt(h, CURLOPT_PRIVATE, r);
  CURLAPI->easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
  CURLAPI->easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  CURLAPI->easy_setopt(h, CURLOPT_NOPROXY, "*");
  CURLAPI->easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  CURLAPI->easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  CURLAPI->easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
  CURLAPI->easy_setopt(h, CURLOPT_WRITEDATA, r);
  CURLAPI->easy_setopt(h, CURLOPT_USERAGENT, e->user_agent);
  CURLAPI->easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  if (e->unix_path)
    CURLAPI->easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, e->unix_path);
  if (e->username || e->password) {
    CURLAPI->easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    CURLAPI->easy_setopt(h, CURLOPT_USERNAME, e->username ? e->username : "");
    CURLAPI->easy_setopt(h, CURLOPT_PASSWORD, e->password ? e->password : "");
  }
  if (e->ca)
    CURLAPI->easy_setopt(h, CURLOPT_CAINFO, e->ca);
  if (e->cert)
    CURLAPI->easy_setopt(h, CURLOPT_SSLCERT, e->cert);
  if (e->key)
    CURLAPI->easy_setopt(h, CURLOPT_SSLKEY, e->key);
  if (e->insecure) {
    CURLAPI->easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    CURLAPI->easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!stream && e->timeout_ms > 0)
    CURLAPI->easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
  r->next = e->reqs;
  if (e->reqs)
    e->reqs->prev = r;
  e->reqs = r;
  /* libcurl refuses multi calls from its own callbacks (a request started
   * from an event line): those are added when the dispatch unwinds. */
  if (e->depth > 0)
    return r;
  if (CURLAPI->multi_add_handle(e->multi, h) != CURLM_OK) {
    req_free(r);
    return NULL;
  }
  r->added = true;
  return r;
}

wh_engine_req *wh_engine_get(wh_engine *e, const char *path, wh_engine_done_fn done, void *ud) {
  return start(e, path, false, NULL, done, ud);
}

wh_engine_req *wh_engine_stream(wh_engine *e, const char *path, wh_engine_line_fn on_line,
                                wh_engine_done_fn done, void *ud) {
  return start(e, path, true, on_line, done, ud);
}

void wh_engine_cancel(wh_engine_req *r) {
  if (!r || r->cancelled)
    return;
  r->cancelled = true;
  /* Inside a libcurl callback the handle cannot be removed: the sweep at
   * the end of the dispatch does it. */
  if (r->e->depth == 0)
    req_free(r);
}

/* ---- libcurl multi-socket on the uv loop ---- */

static void teardown(wh_engine *e);

static void check_multi_info(wh_engine *e) {
  CURLMsg *m;
  int left;
  while (!e->closing && (m = CURLAPI->multi_info_read(e->multi, &left))) {
    if (m->msg != CURLMSG_DONE)
      continue;
    CURL *h = m->easy_handle;
    CURLcode rc = m->data.result;
    wh_engine_req *r = NULL;
    CURLAPI->easy_getinfo(h, CURLINFO_PRIVATE, (char **)&r);
    if (!r)
      continue;
    if (r->cancelled)
      req_free(r);
    else
      finish(r, rc);
  }
}

static void dispatch_begin(wh_engine *e) {
  e->depth++;
}

static void dispatch_end(wh_engine *e) {
  if (e->depth > 1) {
    e->depth--;
    return;
  }
  /* depth stays 1 while sweeping: a callback run from here only marks. */
  bool again = true;
  while (again && !e->closing) {
    again = false;
    wh_engine_req *r = e->reqs, *next;
    for (; r; r = next) {
      next = r->next;
      if (r->cancelled) {
        req_free(r);
      } else if (!r->added) {
        if (CURLAPI->multi_add_handle(e->multi, r->easy) == CURLM_OK) {
          r->added = true;
          continue;
        }
        r->cancelled = true;
        r->done(r->ud, 0, "", 0, "cannot start the request");
        again = true; /* the callback may have changed the list */
        break;
      }
    }
  }
  e->depth = 0;
  if (e->closing)
    teardown(e);
}

static void on_sock_closed(uv_handle_t *h) {
  free(h->data);
}

static void sock_close(wh_engine *e, sock_ctx *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    e->socks = c->next;
  if (c->next)
    c->next->prev = c->prev;
  uv_poll_stop(&c->poll);
  uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  sock_ctx *c = p->data;
  wh_engine *e = c->e;
  int flags = 0;
  if (status < 0)
    flags = CURL_CSELECT_ERR;
  else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  int running = 0;
  dispatch_begin(e);
  CURLAPI->multi_socket_action(e->multi, c->fd, flags, &running);
  check_multi_info(e);
  dispatch_end(e);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  (void)easy;
  wh_engine *e = userp;
  sock_ctx *c = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (c) {
      CURLAPI->multi_assign(e->multi, fd, NULL);
      sock_close(e, c);
    }
    return 0;
  }
  if (!c) {
    c = calloc(1, sizeof(*c));
    if (!c || uv_poll_init_socket(e->loop, &c->poll, fd) != 0) {
      free(c);
      return -1;
    }
    c->fd = fd;
    c->e = e;
    c->poll.data = c;
    c->next = e->socks;
    if (e->socks)
      e->socks->prev = c;
    e->socks = c;
    CURLAPI->multi_assign(e->multi, fd, c);
  }
  int ev = 0;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  uv_poll_start(&c->poll, ev, on_poll);
  return 0;
}

static void on_curl_timeout(uv_timer_t *t) {
  wh_engine *e = t->data;
  int running = 0;
  dispatch_begin(e);
  CURLAPI->multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_multi_info(e);
  dispatch_end(e);
}

static int on_curl_timer(CURLM *multi, long ms, void *userp) {
  (void)multi;
  wh_engine *e = userp;
  if (e->closing)
    return 0;
  if (ms < 0)
    uv_timer_stop(&e->timeout);
  else
    uv_timer_start(&e->timeout, on_curl_timeout, (uint64_t)ms, 0);
  return 0;
}

/* ---- life cycle ---- */

static void engine_free(wh_engine *e) {
  free(e->base_url);
  free(e->unix_path);
  free(e->ca);
  free(e->cert);
  free(e->key);
  free(e->username);
  free(e->password);
  free(e->user_agent);
  free(e);
}

static bool dup_opt(char **dst, const char *s) {
  if (!s || !*s)
    return true;
  *dst = wh_strdup(s);
  return *dst != NULL;
}

wh_engine *wh_engine_new(uv_loop_t *loop, const wh_engine_opts *o, wh_errlist *errs) {
  const char *ep = o->endpoint && *o->endpoint ? o->endpoint : "unix:///var/run/docker.sock";
  wh_engine *e = calloc(1, sizeof(*e));
  if (!e) {
    wh_errlist_add(errs, "out of memory");
    return NULL;
  }
  bool tls = o->tls != NULL;
  bool ok = true;
  if (wh_str_has_caseprefix(ep, "unix://")) {
    const char *path = ep + strlen("unix://");
    if (!*path) {
      wh_errlist_add(errs, "endpoint \"%s\": no socket path", ep);
      engine_free(e);
      return NULL;
    }
    e->unix_path = wh_strdup(path);
    /* The host is required by HTTP/1.1 but unused on a socket. */
    e->base_url = wh_strdup("http://localhost");
    ok = e->unix_path && e->base_url;
  } else if (wh_str_has_caseprefix(ep, "tcp://")) {
    const char *hp = ep + strlen("tcp://");
    size_t n = strcspn(hp, "/");
    e->base_url = wh_asprintf("%s://%.*s", tls ? "https" : "http", (int)n, hp);
    ok = e->base_url != NULL;
  } else if (wh_str_has_caseprefix(ep, "http://") || wh_str_has_caseprefix(ep, "https://")) {
    size_t n = strlen(ep);
    while (n && ep[n - 1] == '/')
      n--;
    e->base_url = wh_strndup(ep, n);
    ok = e->base_url != NULL;
  } else if (wh_str_has_caseprefix(ep, "ssh://")) {
    wh_errlist_add(errs,
                   "endpoint \"%s\": ssh:// endpoints are not supported; "
                   "forward the socket (ssh -L) and use unix:// or tcp://",
                   ep);
    engine_free(e);
    return NULL;
  } else {
    wh_errlist_add(errs,
                   "endpoint \"%s\": unsupported scheme (use unix://, tcp://, http:// "
                   "or https://)",
                   ep);
    engine_free(e);
    return NULL;
  }
  if (tls) {
    ok = ok && dup_opt(&e->ca, o->tls->ca) && dup_opt(&e->cert, o->tls->cert) &&
         dup_opt(&e->key, o->tls->key);
    e->insecure = o->tls->insecure_skip_verify;
  }
  ok = ok && dup_opt(&e->username, o->username) && dup_opt(&e->password, o->password);
  e->user_agent = wh_strdup(o->user_agent ? o->user_agent : "wharf");
  if (!ok || !e->user_agent) {
    wh_errlist_add(errs, "out of memory");
    engine_free(e);
    return NULL;
  }
  if (!(curl_api = wh_curl_load()) || CURLAPI->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    wh_errlist_add(errs, "libcurl (libcurl.so.4) cannot be loaded: the Docker provider needs it");
    engine_free(e);
    return NULL;
  }
  if (!(e->multi = CURLAPI->multi_init())) {
    wh_errlist_add(errs, "out of memory");
    CURLAPI->global_cleanup();
    engine_free(e);
    return NULL;
  }
  e->loop = loop;
  e->timeout_ms = o->timeout_ms;
  uv_timer_init(loop, &e->timeout);
  e->timeout.data = e;
  CURLAPI->multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  CURLAPI->multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
  CURLAPI->multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  CURLAPI->multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
  return e;
}

static void on_timeout_closed(uv_handle_t *h) {
  wh_engine *e = h->data;
  void (*closed)(void *) = e->closed;
  void *ud = e->closed_ud;
  engine_free(e);
  CURLAPI->global_cleanup();
  if (closed)
    closed(ud);
}

static void teardown(wh_engine *e) {
  if (e->torn_down)
    return;
  e->torn_down = true;
  while (e->reqs)
    req_free(e->reqs);
  CURLAPI->multi_cleanup(e->multi);
  e->multi = NULL;
  /* Sockets libcurl did not report removed before its cleanup. */
  while (e->socks)
    sock_close(e, e->socks);
  uv_timer_stop(&e->timeout);
  uv_close((uv_handle_t *)&e->timeout, on_timeout_closed);
}

void wh_engine_close(wh_engine *e, void (*closed)(void *ud), void *ud) {
  if (!e || e->closing)
    return;
  e->closing = true;
  e->closed = closed;
  e->closed_ud = ud;
  for (wh_engine_req *r = e->reqs; r; r = r->next)
    r->cancelled = true;
  if (e->depth == 0)
    teardown(e);
}

/* ---- JSON ---- */

int wh_engine_json_depth(const char *s, size_t n, int max) {
  int depth = 0, deepest = 0;
  bool in_str = false;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (in_str) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max)
        return -1;
      if (depth > deepest)
        deepest = depth;
    } else if (c == '}' || c == ']') {
      depth--;
    }
  }
  return deepest;
}

cJSON *wh_engine_parse_json(const char *s, size_t n, const char **why) {
  if (!s || n == 0) {
    *why = "empty JSON payload";
    return NULL;
  }
  if (wh_engine_json_depth(s, n, WH_ENGINE_MAX_DEPTH) < 0) {
    *why = "JSON nested deeper than 64 levels";
    return NULL;
  }
  const char *end = NULL;
  cJSON *j = cJSON_ParseWithLengthOpts(s, n, &end, false);
  if (!j) {
    *why = "malformed or truncated JSON";
    return NULL;
  }
  /* Only whitespace may follow the value. */
  for (; end && (size_t)(end - s) < n; end++) {
    if (*end != ' ' && *end != '\n' && *end != '\r' && *end != '\t' && *end != '\0') {
      cJSON_Delete(j);
      *why = "trailing data after JSON";
      return NULL;
    }
  }
  return j;
}

wh_engine *wh_engine_for_provider(uv_loop_t *loop, const char *endpoint, const wh_client_tls *tls,
                                  const char *username, const char *password,
                                  wh_duration http_client_timeout, int64_t default_ms,
                                  const char *prefix, wh_errlist *errs) {
  int64_t timeout_ms = http_client_timeout > 0 ? http_client_timeout / WH_MS : default_ms;
  wh_engine_opts eo = {.endpoint = endpoint,
                       .tls = tls,
                       .username = username,
                       .password = password,
                       .timeout_ms = timeout_ms > 0 ? timeout_ms : 1,
                       .user_agent = "wharf/" WH_VERSION};
  wh_errlist eerrs;
  wh_errlist_init(&eerrs);
  wh_engine *e = wh_engine_new(loop, &eo, &eerrs);
  if (!e)
    wh_errlist_extend(errs, &eerrs, prefix);
  wh_errlist_free(&eerrs);
  return e;
}
