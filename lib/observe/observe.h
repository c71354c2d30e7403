/* Observability of the data plane: the access log and the request metrics,
 * made from one wh_xrec per finished exchange. One wh_observe per process,
 * built from the static configuration before the workers start (static
 * configuration needs a restart to change); each worker writes only into its
 * own slot, so the request path takes no lock. */
#ifndef WH_OBSERVE_OBSERVE_H
#define WH_OBSERVE_OBSERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config/static.h"
#include "lib/observe/xrec.h"

typedef struct wh_observe wh_observe;

/* Builds the access log (accessLog) and the metrics store
 * (metrics.prometheus) that stat asks for; stat is borrowed for the
 * object's lifetime. NULL with err set when, e.g., the access log file cannot
 * be opened. */
wh_observe *wh_observe_new(const wh_static_config *stat, int nworkers, char *err, size_t errlen);
void wh_observe_free(wh_observe *o);

/* The process's instance (set by wh_observe_new, cleared by free); NULL when
 * none, e.g. in unit tests. Internal services reach the metrics through it. */
wh_observe *wh_observe_global(void);

/* Worker thread `worker`: one finished exchange. */
void wh_observe_exchange(wh_observe *o, int worker, wh_xrec *r);
/* Worker thread: a client connection opened (+1) or closed (-1) on the
 * entry point with that index (traefik_open_connections). */
void wh_observe_conn(wh_observe *o, int worker, size_t ep_index, int delta);
/* Worker thread: the worker's periodic tick (flushes buffered log lines). */
void wh_observe_tick(wh_observe *o, int worker);
/* Whether the record must carry the downstream response headers. */
bool wh_observe_wants_resp_headers(const wh_observe *o);
/* Whether anything consumes exchanges at all (else conn.c skips filling). */
bool wh_observe_wants_exchanges(const wh_observe *o);
/* Control thread: SIGUSR1 reopens the access log file. */
int wh_observe_reopen(wh_observe *o);
/* Control thread: a configuration was built (traefik_config_reloads_total,
 * traefik_config_last_reload_success). */
void wh_observe_config_reload(wh_observe *o, bool success);
/* Control thread: the runtime of the configuration now applied (borrowed for
 * the call): metrics series of routers and services it no longer has go. */
struct wh_runtime;
void wh_observe_config_applied(wh_observe *o, const struct wh_runtime *rt);

struct wh_metrics_store;
struct wh_access_log;
/* The components, NULL when not configured (for /metrics and tests). */
struct wh_metrics_store *wh_observe_metrics(const wh_observe *o);
struct wh_access_log *wh_observe_access_log(const wh_observe *o);

#endif
