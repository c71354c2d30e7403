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

typedef struct wh_snapshot {
  atomic_int refs;
  uint64_t generation;            /* 1, 2, ... */
  time_t built_at;                /* wall clock, for logs and the API */
  const wh_static_config *stat;   /* borrowed: lives for the whole process */
  wh_runtime *rt;                 /* owned */
  struct wh_route_table **tables; /* owned: one per entry point, in stat->entry_points order */
  size_t ntables;
} wh_snapshot;

/* Takes ownership of rt; builds the route tables. NULL on OOM. refs = 1. */
wh_snapshot *wh_snapshot_new(const wh_static_config *stat, wh_runtime *rt, uint64_t generation);
wh_snapshot *wh_snapshot_ref(wh_snapshot *s);
void wh_snapshot_unref(wh_snapshot *s); /* NULL-safe; frees at zero */

#endif
