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

static uint64_t hash_str(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ULL; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 1099511628211ULL;
  }
  return h;
}

static wh_route_bucket *find_bucket(const wh_route_table *t, const char *host, size_t n) {
  if (!t->nbuckets)
    return NULL;
  size_t mask = t->nbuckets - 1;
  for (size_t i = hash_str(host, n) & mask;; i = (i + 1) & mask) {
    wh_route_bucket *b = &t->buckets[i];
    if (!b->host)
      return b;
    if (strlen(b->host) == n && memcmp(b->host, host, n) == 0)
      return b;
  }
}

static int push_idx(uint32_t **v, size_t *n, uint32_t i) {
  uint32_t *nv = realloc(*v, (*n + 1) * sizeof(**v));
  if (!nv)
    return -1;
  *v = nv;
  nv[(*n)++] = i;
  return 0;
}

static int build_index(wh_route_table *t) {
  size_t nhosts = 0;
  for (size_t i = 0; i < t->n_http; i++) {
    const char *const *hosts;
    nhosts += wh_rule_exact_hosts(t->http[i]->rule, &hosts);
  }
  t->nbuckets = 16;
  while (t->nbuckets < nhosts * 2)
    t->nbuckets *= 2;
  t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
  if (!t->buckets)
    return -1;
  for (size_t i = 0; i < t->n_http; i++) {
    const char *const *hosts;
    size_t nh = wh_rule_exact_hosts(t->http[i]->rule, &hosts);
    if (nh == 0) {
      if (push_idx(&t->any, &t->n_any, (uint32_t)i) != 0)
        return -1;
      continue;
    }
    for (size_t h = 0; h < nh; h++) {
      wh_route_bucket *b = find_bucket(t, hosts[h], strlen(hosts[h]));
      if (!b->host && !(b->host = wh_strdup(hosts[h])))
        return -1;
      /* a rule listing the same host twice must not be tried twice */
      if (b->n && b->idx[b->n - 1] == (uint32_t)i)
        continue;
      if (push_idx(&b->idx, &b->n, (uint32_t)i) != 0)
        return -1;
    }
  }
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
  if (rc == 0)
    rc = build_index(t);
  if (rc != 0 || !t->entrypoint) {
    wh_route_table_free(t);
    return NULL;
  }
  return t;
}

void wh_route_table_free(wh_route_table *t) {
  if (!t)
    return;
  for (size_t i = 0; i < t->nbuckets; i++) {
    free(t->buckets[i].host);
    free(t->buckets[i].idx);
  }
  free(t->buckets);
  free(t->any);
  free(t->entrypoint);
  free(t->http);
  free(t->tcp);
  free(t);
}

static bool try_route(const wh_route_table *t, uint32_t i, const wh_http_req_view *req,
                      bool is_tls) {
  const wh_rt_elem *el = t->http[i];
  return (el->tls || t->ep_tls) == is_tls && wh_rule_match_http(el->rule, req);
}

const wh_rt_elem *wh_route_match_http(const wh_route_table *t, const wh_http_req_view *req,
                                      bool is_tls) {
  if (!t)
    return NULL;
  char host[256];
  size_t hl = wh_rule_index_host(req->host, host, sizeof(host));
  const wh_route_bucket *b = NULL;
  if (hl != (size_t)-1 && hl > 0) {
    b = find_bucket(t, host, hl);
    if (b && !b->host)
      b = NULL;
  }
  size_t bi = 0, ai = 0, bn = b ? b->n : 0;
  while (bi < bn || ai < t->n_any) {
    uint32_t i;
    if (ai >= t->n_any || (bi < bn && b->idx[bi] < t->any[ai]))
      i = b->idx[bi++];
    else
      i = t->any[ai++];
    if (try_route(t, i, req, is_tls))
      return t->http[i];
  }
  return NULL;
}
