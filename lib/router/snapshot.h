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
struct wh_tls_client;

/* What proxying to one HTTP service needs, resolved once per snapshot rather
 * than per request. */
typedef struct wh_backend {
  const char *name;                /* qualified, borrowed from rt */
  const wh_rt_elem *service;       /* its runtime element (cfg: wh_http_service) */
  struct wh_lb *lb;                /* owned by the snapshot */
  const struct wh_tls_client *tls; /* for its https servers (backend_tls's); NULL: none */
  /* forwarding settings: the service's serversTransport, else the static one */
  uint64_t dial_ms, resp_head_ms, idle_conn_ms;
  size_t max_idle; /* idle pooled connections per server and worker */
} wh_backend;

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
  /* One per HTTP service that has a loadBalancer and is not disabled,
   * sorted by qualified name. Empty when the snapshot was built without a
   * health store. */
  wh_backend *backends;
  size_t nbackends;
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
/* The same service's whole backend record; NULL when it has no balancer. */
const wh_backend *wh_snapshot_backend(const wh_snapshot *s, const char *qualified_service);
wh_snapshot *wh_snapshot_ref(wh_snapshot *s);
void wh_snapshot_unref(wh_snapshot *s); /* NULL-safe; frees at zero */

#endif
