/* The ACME manager: certificatesResolvers brought to life on the control
 * loop. One per process, serving every resolver of the static configuration.
 *
 * - At start it loads each resolver's storage file (one store per file path,
 *   shared by the resolvers naming it) and publishes every stored
 *   certificate at once, before any network, as the dynamic configuration of
 *   the provider "acme" (tls.certificates with inline PEM, store "default"),
 *   which is how Traefik's ACME provider feeds its TLS store.
 * - After every configuration build (wh_acme_manager_update) it collects the
 *   domain sets the routers want from each resolver (lib/acme/domains.h) and
 *   queues an order for each name not yet covered: by a certificate of the
 *   TLS store, by a stored certificate of the resolver, or by an order
 *   queued or running.
 * - Each resolver runs one order at a time (wh_acme_obtain) with a solver
 *   preferring TLS-ALPN-01, then HTTP-01, then DNS-01 among the configured
 *   challenges (lego's order), filling lib/acme/challenges.h or calling the
 *   DNS-01 provider (then checking propagation with Traefik's propagation
 *   options, and pausing between the challenges of one order for the
 *   sequential providers rfc2136 and exec, as lego). A new certificate is
 *   stored, saved and published at once; a failure backs off per domain set
 *   (lib/acme/renewal.h).
 * - Renewal: a check at start and every interval of the resolver's
 *   certificatesDuration table; due certificates are ordered again.
 *
 * Threading: everything on the control loop; the RSA-4096 account key (here)
 * and the certificate keys (in the client) are made on the loop's thread
 * pool. */
#ifndef WH_ACME_MANAGER_H
#define WH_ACME_MANAGER_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "lib/config/provider.h"
#include "lib/config/static.h"
#include "lib/router/snapshot.h"

#define WH_ACME_PROVIDER "acme" /* the provider name of the certificates' fragment */

typedef struct wh_acme_manager wh_acme_manager;

/* A manager for the resolvers of stat (borrowed for the manager's
 * lifetime), with envp (a NULL-terminated "NAME=value" array, read here for
 * the DNS-01 providers' credentials). Loads the storage files and emits the
 * first "acme" fragment through emit(emit_ctx, ...) before returning. No
 * network before the first wh_acme_manager_update. NULL when stat has no
 * resolver, or on OOM (logged). */
wh_acme_manager *wh_acme_manager_new(uv_loop_t *loop, const wh_static_config *stat, char **envp,
                                     wh_provider_emit_fn emit, void *emit_ctx);

/* A new configuration was built: snap (borrowed for the call) is the
 * snapshot now served. Matches its routers against the stored certificates
 * and starts the orders needed. */
void wh_acme_manager_update(wh_acme_manager *m, const wh_snapshot *snap);

/* Stops timers, orders (the ACME clients) and DNS operations; no emit
 * afterwards. The memory goes once the loop has run the handles' closes.
 * Pending challenges are forgotten. NULL-safe. */
void wh_acme_manager_close(wh_acme_manager *m);

/* Orders queued or running, all resolvers (tests, logs). */
size_t wh_acme_manager_pending(const wh_acme_manager *m);

#endif
