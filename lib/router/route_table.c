#include "lib/router/route_table.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/str.h"

/* qsort has no context argument: the provider order is passed through a
 * thread-local, set only for the duration of one sort. */
static _Thread_local const char *const *sort_order;
static _Thread_local size_t sort_norder;

static size_t provider_rank(const char *p) {
  for (size_t i = 0; i < sort_norder; i++)
    if (strcmp(sort_order[i], p) == 0)
      return i;
  return sort_norder;
}

static size_t rule_len(const wh_rt_elem *el) {
  const char *rule = NULL;
  if (el->kind == WH_KIND_HTTP_ROUTER)
    rule = ((const wh_http_router *)el->cfg)->rule;
  else if (el->kind == WH_KIND_TCP_ROUTER)
    rule = ((const wh_tcp_router *)el->cfg)->rule;
  return rule ? strlen(rule) : 0;
}

static int route_cmp(const void *a, const void *b) {
  const wh_rt_elem *x = *(const wh_rt_elem *const *)a, *y = *(const wh_rt_elem *const *)b;
  if (x->priority != y->priority)
    return x->priority > y->priority ? -1 : 1;
  size_t lx = rule_len(x), ly = rule_len(y);
  if (lx != ly)
    return lx > ly ? -1 : 1;
  size_t px = provider_rank(x->provider), py = provider_rank(y->provider);
  if (px != py)
    return px < py ? -1 : 1;
  if (px == sort_norder) {
    int c = strcmp(x->provider, y->provider);
    if (c)
      return c;
  }
  return strcmp(x->name, y->name);
}

static int collect(const wh_rt_list *l, const char *ep, wh_rt_elem ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (l->n == 0)
    return 0;
  *out = calloc(l->n, sizeof(**out));
  if (!*out)
    return -1;
  for (size_t i = 0; i < l->n; i++) {
    wh_rt_elem *el = l->v[i];
    if (el->status == WH_STATUS_DISABLED || !el->rule)
      continue;
    if (!wh_strlist_contains(&el->using, ep))
      continue;
    (*out)[(*n)++] = el;
  }
  qsort(*out, *n, sizeof(**out), route_cmp);
  return 0;
}

wh_route_table *wh_route_table_build(const wh_runtime *rt, const char *entrypoint, bool ep_tls,
                                     const char *const *provider_order, size_t norder) {
  wh_route_table *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  t->ep_tls = ep_tls;
  t->entrypoint = wh_strdup(entrypoint);
  sort_order = provider_order;
  sort_norder = norder;
  int rc = collect(&rt->elems[WH_KIND_HTTP_ROUTER], entrypoint, &t->http, &t->n_http);
  if (rc == 0)
    rc = collect(&rt->elems[WH_KIND_TCP_ROUTER], entrypoint, &t->tcp, &t->n_tcp);
  sort_order = NULL;
  sort_norder = 0;
  if (rc != 0 || !t->entrypoint) {
    wh_route_table_free(t);
    return NULL;
  }
  return t;
}

void wh_route_table_free(wh_route_table *t) {
  if (!t)
    return;
  free(t->entrypoint);
  free(t->http);
  free(t->tcp);
  free(t);
}

const wh_rt_elem *wh_route_match_http(const wh_route_table *t, const wh_http_req_view *req,
                                      bool is_tls) {
  for (size_t i = 0; t && i < t->n_http; i++) {
    const wh_rt_elem *el = t->http[i];
    if ((el->tls || t->ep_tls) != is_tls)
      continue;
    if (wh_rule_match_http(el->rule, req))
      return el;
  }
  return NULL;
}
