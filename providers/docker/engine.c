#include "providers/docker/engine.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/net/curl_uv.h"

/* Set by wh_engine_new before any other curl call here. */
static const wh_curl_api *curl_api;
#define CURLAPI curl_api

struct wh_engine_req {
  wh_engine *e;
  CURL *easy;
  bool stream, cancelled;
  bool late_add;   /* started from inside libcurl: its addition may still fail */
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

struct wh_engine {
  uv_loop_t *loop;
  wh_curl_uv *curl;
  /* Runs, once libcurl has returned, the cancellations and the close asked
   * for from an event line; its close callback frees the engine. */
  uv_timer_t later;
  char *base_url; /* "http://localhost" for a Unix socket */
  char *unix_path;
  char *ca, *cert, *key, *username, *password, *user_agent;
  bool insecure;
  int64_t timeout_ms;
  wh_engine_req *reqs;
  /* >0 while an event line is delivered, i.e. inside libcurl: transfers
   * cannot be removed from the multi handle then, and the engine cannot be
   * torn down. */
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

/* Stops r's transfer if it still runs and frees r; not while e->depth > 0
 * unless r's handle never was in the multi. */
static void req_free(wh_engine_req *r) {
  wh_engine *e = r->e;
  if (r->easy) {
    wh_curl_uv_cancel(e->curl, r->easy);
    CURLAPI->easy_cleanup(r->easy);
  }
  req_unlink(e, r);
  free(r->buf);
  free(r);
}

static void on_later(uv_timer_t *t);

/* Work that must wait until libcurl has returned. */
static void defer(wh_engine *e) {
  if (!e->torn_down)
    uv_timer_start(&e->later, on_later, 0, 0);
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
  wh_engine *e = r->e;
  size_t n = size * nmemb;
  if (r->cancelled || e->closing)
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
      e->depth++;
      r->on_line(r->ud, r->buf + off, len - off);
      e->depth--;
      /* Cancelled or closed from the line: returning 0 ends this transfer,
       * whose done callback then frees it. */
      if (r->cancelled || e->closing)
        return 0;
    }
  }
  return n;
}

/* The end of a transfer (wh_curl_uv_done_fn), never inside libcurl. */
static void on_done(void *arg, CURL *easy, CURLcode rc) {
  wh_engine_req *r = arg;
  wh_engine *e = r->e;
  (void)easy;
  if (r->cancelled) {
    req_free(r);
    return;
  }
  long status = 0;
  CURLAPI->easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
  char err[CURL_ERROR_SIZE + 64];
  const char *why = NULL;
  bool ok2xx = status >= 200 && status <= 299;
  if (r->failed_cap) {
    snprintf(err, sizeof(err), "%s over %u MiB", r->stream && ok2xx ? "event line" : "answer",
             (r->stream && ok2xx ? WH_ENGINE_MAX_LINE : WH_ENGINE_MAX_BODY) >> 20);
    why = err;
  } else if (rc == CURLE_FAILED_INIT && r->late_add && !r->errbuf[0]) {
    why = "cannot start the request"; /* the deferred addition failed */
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
  /* Out of the list before done runs: done may close the engine, which
   * then has nothing of r left to free. */
  req_unlink(e, r);
  r->cancelled = true; /* nothing more for this request, whatever done does */
  r->done(r->ud, status, body, len, why);
  CURLAPI->easy_cleanup(r->easy);
  free(r->buf);
  free(r);
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
  /* From an event line, wh_curl_uv adds the handle once libcurl returns. */
  r->late_add = e->depth > 0;
  if (wh_curl_uv_add(e->curl, h, on_done, r) != 0) {
    req_free(r); /* never in the multi: safe even from an event line */
    return NULL;
  }
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
  /* From an event line the handle cannot leave the multi: the transfer
   * aborts at its next write, or the deferred sweep removes it. */
  if (r->e->depth == 0)
    req_free(r);
  else
    defer(r->e);
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
  if (!wh_curl_load()) {
    wh_errlist_add(errs, "libcurl (libcurl.so.4) cannot be loaded: the Docker provider needs it");
    engine_free(e);
    return NULL;
  }
  if (!(e->curl = wh_curl_uv_new(loop))) {
    wh_errlist_add(errs, "out of memory");
    engine_free(e);
    return NULL;
  }
  curl_api = wh_curl_uv_api(e->curl);
  e->loop = loop;
  e->timeout_ms = o->timeout_ms;
  uv_timer_init(loop, &e->later);
  e->later.data = e;
  return e;
}

static void on_later_closed(uv_handle_t *h) {
  wh_engine *e = h->data;
  void (*closed)(void *) = e->closed;
  void *ud = e->closed_ud;
  engine_free(e);
  if (closed)
    closed(ud);
}

/* Never inside libcurl (e->depth == 0). */
static void teardown(wh_engine *e) {
  if (e->torn_down)
    return;
  e->torn_down = true;
  while (e->reqs)
    req_free(e->reqs);
  /* No transfer is left: no done callback runs from here. */
  wh_curl_uv_close(e->curl);
  e->curl = NULL;
  uv_timer_stop(&e->later);
  uv_close((uv_handle_t *)&e->later, on_later_closed);
}

static void on_later(uv_timer_t *t) {
  wh_engine *e = t->data;
  for (wh_engine_req *r = e->reqs, *next; r; r = next) {
    next = r->next;
    if (r->cancelled)
      req_free(r);
  }
  if (e->closing)
    teardown(e);
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
  else
    defer(e);
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
