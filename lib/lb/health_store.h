/* Health cells that outlive snapshots: one per (service, server URL), shared
 * by every balancer of that service (old and new snapshots alike) and by the
 * active health checker. A cell lives while someone holds it, so a server
 * that stays in the configuration keeps its UP/DOWN state and its passive
 * fencing across reloads; a server that leaves and comes back starts UP.
 * Internal to lib/lb. */
#ifndef WH_LB_HEALTH_STORE_H
#define WH_LB_HEALTH_STORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/lb/lb.h"

typedef struct wh_health_cell {
  atomic_int up;                   /* 1 UP, 0 DOWN; flipped by the active checker */
  _Atomic int64_t fenced_until_ms; /* passive: skipped by picks until then */
  pthread_mutex_t mu;              /* guards the passive failure window below */
  int64_t window_start_ms;
  int64_t failures;
  /* store-private */
  char *service, *url;
  size_t hash;
  int refs; /* guarded by the store lock */
  struct wh_health_cell *next;
} wh_health_cell;

/* Returns the cell for (service, url), created UP when absent, with one more
 * reference for the caller. NULL on OOM. Thread-safe. */
wh_health_cell *wh_health_store_acquire(wh_health_store *s, const char *service, const char *url);
/* Drops a reference from wh_health_store_acquire; the cell is freed at zero.
 * Thread-safe (snapshots may be freed on worker threads). NULL-safe. */
void wh_health_store_release(wh_health_store *s, wh_health_cell *c);
/* Another reference to the store: balancers and the checker hold one so the
 * store outlives its creator's wh_health_store_free. */
wh_health_store *wh_health_store_ref(wh_health_store *s);
/* Number of live cells (for tests and debug logs). */
size_t wh_health_store_count(wh_health_store *s);

#endif
