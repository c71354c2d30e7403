/* Prometheus exposition at /metrics (prometheus@internal, metrics.prometheus),
 * with Traefik's metric names so that existing dashboards work. So far it
 * holds the TLS certificate expiry gauge (issue 5); the request metrics
 * come with the observability work (issue 7). */
#ifndef WH_ADMIN_METRICS_H
#define WH_ADMIN_METRICS_H

#include "lib/http/request.h"
#include "lib/router/snapshot.h"

/* Fills resp (200, text/plain; version=0.0.4) from the snapshot. */
void wh_metrics_handle(const wh_snapshot *snap, wh_http_resp *resp);

#endif
