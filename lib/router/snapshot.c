#include "lib/router/snapshot.h"

#include <stdlib.h>

#include "lib/router/route_table.h"

/* Ties between equal priorities go to the earlier provider (file before
 * docker), as TRAEFIK-COMPAT "Where wharf differs" promises. */
static const char *const provider_order[] = {"internal", "file", "docker", "swarm"};

wh_snapshot *wh_snapshot_new(const wh_static_config *stat, wh_runtime *rt, uint64_t generation) {
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
  wh_runtime_free(s->rt);
  free(s);
}
