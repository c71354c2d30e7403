/* An immutable snapshot of everything a request needs: the static
 * configuration, the runtime view of the merged dynamic configuration, and
 * (with the data plane) the compiled route tables. Built on the control
 * thread, published to readers by pointer swap, freed when the last reference
 * is dropped. Readers never see a snapshot change. */
#ifndef WH_ROUTER_SNAPSHOT_H
#define WH_ROUTER_SNAPSHOT_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "lib/config/runtime.h"
#include "lib/config/static.h"

struct wh_route_table;
struct wh_lb;
struct wh_health_store;
struct wh_tls_server;
struct wh_backend_tls;

typedef struct wh_snapshot {
  atomic_int refs;
  uint64_t generation;                /* 1, 2, ... */
  time_t built_at;                    /* wall clock, for logs and the API */
  const wh_static_config *stat;       /* borrowed: lives for the whole process */
  wh_runtime *rt;                     /* owned */
  struct wh_tls_server *tls;          /* owned: options, certificates, contexts */
  struct wh_backend_tls *backend_tls; /* owned: TLS towards backends (serversTransports) */
  struct wh_route_table **tables;     /* owned: one per entry point, in stat->entry_points order */
  size_t ntables;
  /* One balancer per HTTP service that has a loadBalancer and is not
   * disabled, sorted by qualified name (lb_names borrowed from rt). Empty
   * when the snapshot was built without a health store. */
  struct wh_lb **lbs;
  const char **lb_names;
  size_t nlbs;
} wh_snapshot;

/* Takes ownership of rt; builds the route tables and, when store is not
 * NULL, the balancers (nworkers WRR states each; health cells from store,
 * of which each balancer holds a reference). A service whose
 * balancer cannot be built (bad server URL) gets none and is logged. NULL on
 * OOM. refs = 1. */
wh_snapshot *wh_snapshot_new(const wh_static_config *stat, wh_runtime *rt, uint64_t generation,
                             struct wh_health_store *store, int nworkers);
/* The balancer of a service by qualified name ("whoami@docker"); NULL when
 * the service has none. Borrowed for the snapshot's lifetime. */
struct wh_lb *wh_snapshot_lb(const wh_snapshot *s, const char *qualified_service);
wh_snapshot *wh_snapshot_ref(wh_snapshot *s);
void wh_snapshot_unref(wh_snapshot *s); /* NULL-safe; frees at zero */

#endif
