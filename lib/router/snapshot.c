#include "lib/router/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/lb/lb.h"
#include "lib/router/backend_tls.h"
#include "lib/router/route_table.h"
#include "lib/tls/client.h"
#include "lib/tls/server.h"

/* Ties between equal priorities go to the earlier provider (file before
 * docker), as TRAEFIK-COMPAT "Where wharf differs" promises. */
static const char *const provider_order[] = {"internal", "file", "docker", "swarm"};

/* The forwarding settings of a service: its serversTransport's, else the
 * static default's. */
static void forwarding(wh_backend *b, const wh_static_config *stat, const wh_runtime *rt,
                       const wh_rt_elem *el, const wh_lb_service *lbc) {
  const wh_servers_transport *st = NULL;
  if (lbc->servers_transport && *lbc->servers_transport) {
    char *q = wh_qualify(lbc->servers_transport, el->provider);
    const wh_rt_elem *t = q ? wh_runtime_find(rt, WH_KIND_HTTP_TRANSPORT, q) : NULL;
    free(q);
    st = t ? t->cfg : NULL;
  }
  const wh_static_servers_transport *sst = stat->servers_transport;
  const wh_forwarding_timeouts *ft = st && st->forwarding_timeouts
                                         ? st->forwarding_timeouts
                                         : (sst ? sst->forwarding_timeouts : NULL);
  b->dial_ms = ft ? (uint64_t)(ft->dial_timeout / WH_MS) : 30000;
  b->resp_head_ms = ft ? (uint64_t)(ft->response_header_timeout / WH_MS) : 0;
  b->idle_conn_ms = ft ? (uint64_t)(ft->idle_conn_timeout / WH_MS) : 90000;
  /* A transport that leaves maxIdleConnsPerHost unset takes the static
   * default's (200 unless set there). Traefik gives it Go's 2, a known trap:
   * with more requests in flight than that, most of them open a connection
   * (a TLS handshake for https) and close it after one exchange, about 7x
   * slower in bench/RESULTS.md "HTTPS backends". An explicit 0 on the static
   * default is Go's 2 (Traefik's behaviour there). */
  int64_t smi = sst ? sst->max_idle_conns_per_host : 200;
  int64_t mi = st && st->max_idle_conns_per_host > 0 ? st->max_idle_conns_per_host : smi;
  b->max_idle = mi > 0 ? (size_t)mi : mi == 0 ? 2 : 0;
}

/* rt's HTTP services are sorted by name, so the backends come out sorted too. */
static int build_backends(wh_snapshot *s, struct wh_health_store *store, int nworkers) {
  const wh_rt_list *l = &s->rt->elems[WH_KIND_HTTP_SERVICE];
  s->backends = calloc(l->n ? l->n : 1, sizeof(*s->backends));
  if (!s->backends)
    return WH_ENOMEM;
  for (size_t i = 0; i < l->n; i++) {
    const wh_rt_elem *el = l->v[i];
    const wh_http_service *svc = el->cfg;
    if (el->status == WH_STATUS_DISABLED || !svc || !svc->load_balancer)
      continue;
    wh_errlist errs;
    wh_errlist_init(&errs);
    struct wh_lb *lb = wh_lb_new(el->name, svc->load_balancer, nworkers, store, &errs);
    for (size_t e = 0; e < errs.n; e++)
      wh_log_error("%s", errs.items[e]);
    wh_errlist_free(&errs);
    if (!lb)
      continue;
    wh_backend *b = &s->backends[s->nbackends++];
    *b = (wh_backend){.name = el->name, .service = el, .lb = lb};
    b->tls = wh_backend_tls_http(s->backend_tls, el->name);
    if (b->tls && wh_lb_set_tls_id(lb, wh_tls_client_id(b->tls)) != 0)
      return WH_ENOMEM;
    forwarding(b, s->stat, s->rt, el, svc->load_balancer);
  }
  return 0;
}

const wh_backend *wh_snapshot_backend(const wh_snapshot *s, const char *qualified_service) {
  if (!s || !qualified_service)
    return NULL;
  size_t lo = 0, hi = s->nbackends;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->backends[mid].name, qualified_service);
    if (c == 0)
      return &s->backends[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

struct wh_lb *wh_snapshot_lb(const wh_snapshot *s, const char *qualified_service) {
  const wh_backend *b = wh_snapshot_backend(s, qualified_service);
  return b ? b->lb : NULL;
}

wh_snapshot *wh_snapshot_new(const wh_static_config *stat, wh_runtime *rt, uint64_t generation,
                             struct wh_health_store *store, int nworkers) {
  wh_snapshot *s = calloc(1, sizeof(*s));
  if (!s) {
    wh_runtime_free(rt);
    return NULL;
  }
  atomic_init(&s->refs, 1);
  s->generation = generation;
  s->built_at = time(NULL);
  s->stat = stat;
  s->rt = rt;
  /* TLS first: a router whose TLS options are invalid is disabled before
   * the route tables are made from the enabled routers. */
  s->tls = wh_tls_server_build(stat, rt);
  if (!s->tls)
    goto oom;
  /* likewise a router whose service's serversTransport does not compile */
  s->backend_tls = wh_backend_tls_build(stat, rt);
  if (!s->backend_tls)
    goto oom;
  s->ntables = stat->entry_points.n;
  s->tables = calloc(s->ntables ? s->ntables : 1, sizeof(*s->tables));
  if (!s->tables)
    goto oom;
  for (size_t i = 0; i < s->ntables; i++) {
    const wh_entrypoint *ep = stat->entry_points.vals[i];
    s->tables[i] =
        wh_route_table_build(rt, stat->entry_points.keys[i], ep->http.tls != NULL, provider_order,
                             sizeof(provider_order) / sizeof(provider_order[0]));
    if (!s->tables[i])
      goto oom;
  }
  if (store && build_backends(s, store, nworkers) != 0)
    goto oom;
  return s;
oom:
  s->refs = 1;
  wh_snapshot_unref(s);
  return NULL;
}

wh_snapshot *wh_snapshot_ref(wh_snapshot *s) {
  if (s)
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
  return s;
}

void wh_snapshot_unref(wh_snapshot *s) {
  if (!s)
    return;
  if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
    return;
  for (size_t i = 0; s->tables && i < s->ntables; i++)
    wh_route_table_free(s->tables[i]);
  free(s->tables);
  for (size_t i = 0; i < s->nbackends; i++)
    wh_lb_free(s->backends[i].lb);
  free(s->backends);
  wh_tls_server_free(s->tls);
  wh_backend_tls_free(s->backend_tls);
  wh_runtime_free(s->rt);
  free(s);
}
