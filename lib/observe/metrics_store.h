/* The request metrics behind /metrics (metrics.prometheus), with Traefik's
 * family names, HELP texts and labels (TRAEFIK-COMPAT.md §9): counters and
 * duration histograms per entry point, router and service, the TLS request
 * counters, service retries, open connections and configuration reloads.
 *
 * Each worker owns one slot: a hash table from label set to counters that
 * only that worker writes (relaxed atomics, so the scraper can read them
 * while it counts). Recording a label set seen before takes no lock; a new
 * label set takes the slot's mutex to be linked in, and the scraper holds the
 * same mutex while it walks the slot. The label sets of a router or service
 * that left the configuration are shown by one more scrape, then their
 * worker unlinks them at its next tick (as Traefik drops such series after
 * their next scrape).
 *
 * A slot holds at most WH_METRICS_MAX_LABEL_SETS label sets: header labels
 * (headerLabels) copy client-chosen values into labels, so beyond the cap an
 * observation for a new label set is dropped, counted in
 * wharf_metrics_label_sets_dropped_total and logged once. Methods outside
 * the HTTP verbs become EXTENSION_METHOD, as in Traefik. */
#ifndef WH_OBSERVE_METRICS_STORE_H
#define WH_OBSERVE_METRICS_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/config/static.h"
#include "lib/core/str.h"
#include "lib/observe/xrec.h"

/* per worker slot, all families together */
#define WH_METRICS_MAX_LABEL_SETS 10000

typedef struct wh_metrics_store wh_metrics_store;

/* cfg and stat are borrowed for the object's lifetime (entry point names
 * come from stat->entry_points, in that map's order; metrics.addInternals
 * from stat->metrics). nworkers slots (at least one). NULL on OOM. */
wh_metrics_store *wh_metrics_store_new(const wh_prometheus *cfg, const wh_static_config *stat,
                                       int nworkers);
void wh_metrics_store_free(wh_metrics_store *m); /* NULL-safe */

/* Worker thread `worker` (0 <= worker < nworkers; others are ignored): one
 * finished exchange. r and everything it points to are borrowed for the
 * call. Lock-free for a label set seen before on this worker. */
void wh_metrics_store_record(wh_metrics_store *m, int worker, const wh_xrec *r);

/* Worker thread `worker`: a client connection opened (+1) or closed (-1) on
 * the entry point with index ep_index in stat->entry_points. */
void wh_metrics_store_conn(wh_metrics_store *m, int worker, size_t ep_index, int delta);

/* Control thread: a configuration build finished. Every build counts in
 * traefik_config_reloads_total; a successful one sets
 * traefik_config_last_reload_success to now, a failed one counts in
 * wharf_config_reloads_failure_total. */
void wh_metrics_store_reload(wh_metrics_store *m, bool success);

/* Control thread: the configuration now in use (its HTTP routers and
 * services are copied). Series of others are dropped after the next scrape. */
struct wh_runtime;
void wh_metrics_store_live(wh_metrics_store *m, const struct wh_runtime *rt);

/* Worker thread `worker`, periodically: unlinks its label sets that a scrape
 * showed for the last time. */
void wh_metrics_store_tick(wh_metrics_store *m, int worker);

/* Any thread: appends the exposition (text format 0.0.4) of every family
 * that has samples, summed over all workers, families sorted by name, each
 * with one HELP and one TYPE line. */
void wh_metrics_store_write(wh_metrics_store *m, wh_strbuf *out);

/* The text format's label value escaping (backslash, double quote,
 * newline), shared with lib/admin/metrics.c. */
void wh_metrics_label_value(wh_strbuf *b, const char *v);

#endif
