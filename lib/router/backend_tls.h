/* The TLS clients of a snapshot: every serversTransport (HTTP) and TCP
 * transport `tls` section compiled into a wh_tls_client, plus the defaults
 * (the static `serversTransport` for HTTP services without one, system roots
 * and full verification for TCP servers with `tls: true` and no transport),
 * and which client each service's TLS servers use.
 *
 * Built on the control thread with the snapshot, before the route tables: a
 * transport that does not compile (a rootCAs file missing, a client key that
 * does not match) is reported on the transport and disables the services
 * that reference it and their routers. Nothing ever falls back to another
 * transport or to an unverified connection (Traefik falls back to its
 * default transport there; wharf refuses, see docs/operations/backends-tls.md).
 * Immutable afterwards; read by workers through the snapshot. */
#ifndef WH_ROUTER_BACKEND_TLS_H
#define WH_ROUTER_BACKEND_TLS_H

#include "lib/config/runtime.h"
#include "lib/config/static.h"

struct wh_tls_client;
typedef struct wh_backend_tls wh_backend_tls;

/* Disables elements of rt as described above. NULL on OOM. */
wh_backend_tls *wh_backend_tls_build(const wh_static_config *stat, wh_runtime *rt);
void wh_backend_tls_free(wh_backend_tls *b); /* NULL-safe */

/* The client for the https servers of an HTTP service (qualified name), or
 * for the `tls: true` servers of a TCP service; NULL when the service has
 * none (no TLS server, or the service was disabled). Borrowed for the
 * snapshot's lifetime. */
const struct wh_tls_client *wh_backend_tls_http(const wh_backend_tls *b, const char *service);
const struct wh_tls_client *wh_backend_tls_tcp(const wh_backend_tls *b, const char *service);

/* True when a rootCAs or client certificate file the build read changed
 * since (polled by the control loop, as served certificates are). */
bool wh_backend_tls_files_changed(const wh_backend_tls *b);

#endif
