#include "lib/observe/observe.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/observe/access_log.h"
#include "lib/observe/metrics_store.h"

struct wh_observe {
  int nworkers;
  wh_access_log *alog;       /* NULL without accessLog */
  wh_metrics_store *metrics; /* NULL without metrics.prometheus */
  bool alog_internals;
  /* RequestCount: Traefik's process-wide running count. One relaxed atomic
   * per logged request, taken only when an access log is configured. */
  atomic_uint_fast64_t requests;
};

/* Written once on the control thread before the workers start and cleared
 * after they are joined, so the workers read it without synchronisation. */
static wh_observe *global;

wh_observe *wh_observe_new(const wh_static_config *stat, int nworkers, char *err, size_t errlen) {
  wh_observe *o = calloc(1, sizeof(*o));
  if (!o) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  o->nworkers = nworkers > 0 ? nworkers : 1;
  if (stat->access_log) {
    o->alog = wh_access_log_new(stat->access_log, o->nworkers, err, errlen);
    if (!o->alog) {
      free(o);
      return NULL;
    }
    o->alog_internals = wh_access_log_wants_internals(o->alog);
  }
  if (stat->metrics && stat->metrics->prometheus) {
    o->metrics = wh_metrics_store_new(stat->metrics->prometheus, stat, o->nworkers);
    if (!o->metrics) {
      wh_access_log_free(o->alog);
      free(o);
      snprintf(err, errlen, "out of memory");
      return NULL;
    }
  }
  global = o;
  return o;
}

void wh_observe_free(wh_observe *o) {
  if (!o)
    return;
  if (global == o)
    global = NULL;
  wh_access_log_free(o->alog);
  wh_metrics_store_free(o->metrics);
  free(o);
}

wh_observe *wh_observe_global(void) {
  return global;
}

void wh_observe_exchange(wh_observe *o, int worker, wh_xrec *r) {
  if (!o || worker < 0 || worker >= o->nworkers)
    return;
  if (o->metrics)
    wh_metrics_store_record(o->metrics, worker, r);
  if (o->alog && (!r->internal || o->alog_internals)) {
    r->request_count = atomic_fetch_add_explicit(&o->requests, 1, memory_order_relaxed) + 1;
    wh_access_log_record(o->alog, worker, r);
  }
}

void wh_observe_conn(wh_observe *o, int worker, size_t ep_index, int delta) {
  if (o && o->metrics && worker >= 0 && worker < o->nworkers)
    wh_metrics_store_conn(o->metrics, worker, ep_index, delta);
}

void wh_observe_tick(wh_observe *o, int worker) {
  if (o && o->alog && worker >= 0 && worker < o->nworkers)
    wh_access_log_tick(o->alog, worker);
  if (o && o->metrics)
    wh_metrics_store_tick(o->metrics, worker);
}

void wh_observe_config_applied(wh_observe *o, const struct wh_runtime *rt) {
  if (o && o->metrics)
    wh_metrics_store_live(o->metrics, rt);
}

bool wh_observe_wants_resp_headers(const wh_observe *o) {
  return o && o->alog && wh_access_log_wants_resp_headers(o->alog);
}

bool wh_observe_wants_exchanges(const wh_observe *o) {
  return o && (o->alog || o->metrics);
}

int wh_observe_reopen(wh_observe *o) {
  return o && o->alog ? wh_access_log_reopen(o->alog) : 0;
}

void wh_observe_config_reload(wh_observe *o, bool success) {
  if (o && o->metrics)
    wh_metrics_store_reload(o->metrics, success);
}

struct wh_metrics_store *wh_observe_metrics(const wh_observe *o) {
  return o ? o->metrics : NULL;
}

struct wh_access_log *wh_observe_access_log(const wh_observe *o) {
  return o ? o->alog : NULL;
}
