#include "lib/http/exchange.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/config/runtime.h"
#include "lib/core/err.h"
#include "lib/core/log.h"
#include "lib/core/str.h"
#include "lib/http/headers.h"

int wh_mw_exchange_set_header(wh_mw_exchange *x, const char *name, const char *value) {
  wh_strmap *m = &x->set_headers;
  char *v = NULL;
  if (value && !(v = strdup(value)))
    return WH_ENOMEM;
  for (size_t i = 0; i < m->n; i++) {
    if (strcasecmp(m->keys[i], name) == 0) {
      free(m->vals[i]);
      m->vals[i] = v;
      return 0;
    }
  }
  char **k = realloc(m->keys, (m->n + 1) * sizeof(*k));
  if (!k)
    goto oom;
  m->keys = k;
  char **vv = realloc(m->vals, (m->n + 1) * sizeof(*vv));
  if (!vv)
    goto oom;
  m->vals = vv;
  if (!(m->keys[m->n] = strdup(name)))
    goto oom;
  m->vals[m->n] = v;
  m->n++;
  return 0;
oom:
  free(v);
  return WH_ENOMEM;
}

const char *wh_mw_exchange_header(const wh_mw_exchange *x, const char *name) {
  for (size_t i = 0; i < x->set_headers.n; i++)
    if (strcasecmp(x->set_headers.keys[i], name) == 0)
      return x->set_headers.vals[i]; /* NULL: removed by an earlier middleware */
  return wh_http_req_header(x->req, name);
}

int wh_mw_exchange_resp(wh_mw_exchange *x, wh_resp_op op, const char *name, const char *value) {
  wh_resp_edit *e = realloc(x->edits, (x->nedits + 1) * sizeof(*e));
  if (!e)
    return WH_ENOMEM;
  x->edits = e;
  wh_resp_edit *n = &e[x->nedits];
  n->op = op;
  n->level = x->level;
  n->name = strdup(name);
  n->value = value && op != WH_RESP_DEL ? strdup(value) : NULL;
  if (!n->name || (value && op != WH_RESP_DEL && !n->value)) {
    free(n->name);
    free(n->value);
    return WH_ENOMEM;
  }
  x->nedits++;
  return 0;
}

int wh_mw_exchange_on_end(wh_mw_exchange *x, wh_mw_end_fn fn, void *arg) {
  wh_mw_end *e = realloc(x->ends, (x->nends + 1) * sizeof(*e));
  if (!e)
    return WH_ENOMEM;
  x->ends = e;
  e[x->nends++] = (wh_mw_end){fn, arg};
  return 0;
}

wh_mw_async *wh_mw_exchange_suspend(wh_mw_exchange *x) {
  return x->suspend ? x->suspend(x->suspend_ctx) : NULL;
}

void wh_mw_async_done(wh_mw_async *a, int rc) {
  a->done(a, rc);
}

int wh_mw_run_list(wh_mw_exchange *x, char *const *names, size_t n) {
  const char *saved_name = x->mw_name, *saved_provider = x->mw_provider;
  int rc = WH_MW_NEXT;
  for (size_t i = 0; i < n && rc == WH_MW_NEXT; i++) {
    const wh_rt_elem *m = x->rt ? wh_runtime_find(x->rt, WH_KIND_HTTP_MIDDLEWARE, names[i]) : NULL;
    if (!m || !m->mw_type || m->status == WH_STATUS_DISABLED || !m->mw_type->on_request) {
      /* Fail closed: a router is never served without its middlewares. */
      static _Atomic bool logged;
      if (m && m->mw_type && !m->mw_type->on_request && !atomic_exchange(&logged, true))
        wh_log_error("middleware \"%s\" (type %s) has no runtime in this build; answering 500",
                     m->name, m->mw_type->name);
      wh_http_resp_free(x->resp);
      wh_http_resp_text(x->resp, 500, "Internal Server Error");
      rc = WH_MW_DONE;
      break;
    }
    x->mw_name = m->name;
    x->mw_provider = m->provider;
    x->level++;
    rc = m->mw_type->on_request(m->mw_cfg, x);
  }
  x->mw_name = saved_name;
  x->mw_provider = saved_provider;
  return rc;
}

/* "a, b" contains token t (case-insensitive). */
static bool list_has(const char *list, const char *t) {
  size_t tl = strlen(t);
  for (const char *p = list; *p;) {
    while (*p == ' ' || *p == ',')
      p++;
    const char *e = p;
    while (*e && *e != ',')
      e++;
    const char *end = e;
    while (end > p && end[-1] == ' ')
      end--;
    if ((size_t)(end - p) == tl && strncasecmp(p, t, tl) == 0)
      return true;
    p = e;
  }
  return false;
}

/* The cookie name of a Set-Cookie value equals name. */
static bool cookie_named(const char *v, const char *name) {
  while (*v == ' ' || *v == '\t')
    v++;
  size_t n = strlen(name);
  if (strncmp(v, name, n) != 0)
    return false;
  v += n;
  while (*v == ' ' || *v == '\t')
    v++;
  return *v == '=';
}

/* Removes the Set-Cookie fields for one cookie, keeping the others in order. */
static void del_cookie(wh_headers *h, const char *name) {
  if (!name)
    return;
  size_t n = wh_headers_count(h, "Set-Cookie");
  if (!n)
    return;
  char **keep = calloc(n, sizeof(*keep));
  size_t k = 0;
  for (size_t i = 0; keep && i < h->n; i++)
    if (strcasecmp(h->v[i].name, "Set-Cookie") == 0 && !cookie_named(h->v[i].value, name))
      keep[k++] = strdup(h->v[i].value);
  if (!keep)
    return;
  wh_headers_remove(h, "Set-Cookie");
  for (size_t i = 0; i < k; i++) {
    if (keep[i])
      wh_headers_add_cstr(h, "Set-Cookie", keep[i]);
    free(keep[i]);
  }
  free(keep);
}

static void apply_one(const wh_resp_edit *d, wh_headers *h) {
  const char *cur = wh_headers_get(h, d->name);
  switch (d->op) {
  case WH_RESP_SET:
    wh_headers_set(h, d->name, d->value);
    break;
  case WH_RESP_DEL:
    wh_headers_remove(h, d->name);
    break;
  case WH_RESP_DEFAULT:
    if (!cur)
      wh_headers_set(h, d->name, d->value);
    break;
  case WH_RESP_ADD:
    wh_headers_add_cstr(h, d->name, d->value);
    break;
  case WH_RESP_DEL_COOKIE:
    del_cookie(h, d->value);
    break;
  case WH_RESP_APPEND:
    if (!cur || !*cur) {
      wh_headers_set(h, d->name, d->value);
    } else if (!list_has(cur, d->value)) {
      char *v = wh_asprintf("%s, %s", cur, d->value);
      if (v)
        wh_headers_set(h, d->name, v);
      free(v);
    }
    break;
  }
}

void wh_resp_edits_apply(const wh_resp_edit *e, size_t n, wh_headers *h) {
  unsigned top = 0;
  for (size_t i = 0; i < n; i++)
    if (e[i].level > top)
      top = e[i].level;
  for (unsigned lvl = top + 1; lvl-- > 0;)
    for (size_t i = 0; i < n; i++)
      if (e[i].level == lvl)
        apply_one(&e[i], h);
}

void wh_resp_edits_apply_local(const wh_resp_edit *e, size_t n, wh_http_resp *r) {
  if (!n)
    return;
  /* Through a header list, so that one implementation of the operations
   * serves both kinds of responses. */
  wh_headers h;
  wh_headers_init(&h);
  for (size_t i = 0; i < r->nheaders; i++)
    wh_headers_add_cstr(&h, r->hdr_names[i], r->hdr_values[i]);
  wh_resp_edits_apply(e, n, &h);
  for (size_t i = 0; i < r->nheaders; i++) {
    free(r->hdr_names[i]);
    free(r->hdr_values[i]);
  }
  r->nheaders = 0;
  for (size_t i = 0; i < h.n; i++)
    wh_http_resp_header(r, h.v[i].name, h.v[i].value);
  wh_headers_free(&h);
}

void wh_resp_edits_free(wh_resp_edit *e, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(e[i].name);
    free(e[i].value);
  }
  free(e);
}

void wh_mw_exchange_free(wh_mw_exchange *x) {
  free(x->path);
  for (size_t i = 0; i < x->set_headers.n; i++) {
    free(x->set_headers.keys[i]);
    free(x->set_headers.vals[i]);
  }
  free(x->set_headers.keys);
  free(x->set_headers.vals);
  wh_resp_edits_free(x->edits, x->nedits);
  free(x->errors_service);
  free(x->username);
  /* end callbacks not handed over are run as aborted: their state (a
   * counter a middleware took) must still be released */
  for (size_t i = 0; i < x->nends; i++)
    x->ends[i].fn(x->ends[i].arg, 0);
  free(x->ends);
  memset(x, 0, sizeof(*x));
}
