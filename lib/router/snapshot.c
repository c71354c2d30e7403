#include "lib/router/snapshot.h"

#include <stdlib.h>
#include <string.h>

#include "lib/core/log.h"
#include "lib/lb/lb.h"
#include "lib/router/backend_tls.h"
#include "lib/router/route_table.h"
#include "lib/tls/server.h"

/* Ties between equal priorities go to the earlier provider (file before
 * docker), as TRAEFIK-COMPAT "Where wharf differs" promises. */
static const char *const provider_order[] = {"internal", "file", "docker", "swarm"};

/* rt's HTTP services are sorted by name, so lbs come out sorted too. */
static int build_lbs(wh_snapshot *s, struct wh_health_store *store, int nworkers) {
  const wh_rt_list *l = &s->rt->elems[WH_KIND_HTTP_SERVICE];
  s->lbs = calloc(l->n ? l->n : 1, sizeof(*s->lbs));
  s->lb_names = calloc(l->n ? l->n : 1, sizeof(*s->lb_names));
  if (!s->lbs || !s->lb_names)
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
    s->lbs[s->nlbs] = lb;
    s->lb_names[s->nlbs++] = el->name;
  }
  return 0;
}

struct wh_lb *wh_snapshot_lb(const wh_snapshot *s, const char *qualified_service) {
  if (!s || !qualified_service)
    return NULL;
  size_t lo = 0, hi = s->nlbs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(s->lb_names[mid], qualified_service);
    if (c == 0)
      return s->lbs[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
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
  if (store && build_lbs(s, store, nworkers) != 0)
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
  for (size_t i = 0; i < s->nlbs; i++)
    wh_lb_free(s->lbs[i]);
  free(s->lbs);
  free(s->lb_names);
  wh_tls_server_free(s->tls);
  wh_backend_tls_free(s->backend_tls);
  wh_runtime_free(s->rt);
  free(s);
}
