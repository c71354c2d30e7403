/* Prometheus exposition at /metrics (prometheus@internal, metrics.prometheus),
 * with Traefik's metric names so that existing dashboards work: the request
 * metrics of the process's store (lib/observe/metrics_store.h, absent in
 * processes without one) plus what the snapshot knows,
 * traefik_service_server_up and traefik_tls_certs_not_after. */
#ifndef WH_ADMIN_METRICS_H
#define WH_ADMIN_METRICS_H

#include "lib/http/request.h"
#include "lib/router/snapshot.h"

/* Fills resp (200, text/plain; version=0.0.4): every family sorted by name.
 * snap is borrowed for the call (may be NULL: store families only). */
void wh_metrics_handle(const wh_snapshot *snap, wh_http_resp *resp);

#endif
