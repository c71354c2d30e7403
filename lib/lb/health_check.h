/* Active health checks (TRAEFIK-COMPAT §10): probes every server of every
 * enabled HTTP service with loadBalancer.healthCheck from the control loop,
 * with libcurl's multi-socket interface driven by that uv loop (no thread,
 * nothing blocks). Results go to the shared health cells of the store, which
 * the balancers of every snapshot read. */
#ifndef WH_LB_HEALTH_CHECK_H
#define WH_LB_HEALTH_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "lib/config/dynamic.h"
#include "lib/config/runtime.h"
#include "lib/config/static.h"
#include "lib/lb/lb.h"
#include "lib/tls/client.h"

typedef struct wh_health_checker wh_health_checker;

/* loop: the control loop (borrowed for the checker's life). store: a
 * reference is taken. NULL on OOM or when libcurl cannot start. */
wh_health_checker *wh_health_checker_new(uv_loop_t *loop, wh_health_store *store);

/* Replaces the probed targets with those of rt (borrowed for the call only):
 * every HTTP service whose status is not disabled and that has
 * loadBalancer.healthCheck, each server with weight > 0. A target that stays
 * (same service and URL) keeps its state and its schedule; when its probe
 * settings changed, the new ones apply from the next probe. The probes of
 * https servers use the TLS settings of the service's serversTransport
 * (serverName, insecureSkipVerify, rootCAs, certificates, peerCertURI), or of
 * stat's default serversTransport (insecureSkipVerify, rootCAs) for a
 * service without one, as Traefik probes with the service's own transport;
 * stat may be NULL. Files are read here (a transport whose files cannot be
 * read has its servers reported DOWN with the reason). Returns 0 or
 * WH_ENOMEM (the previous targets then keep running). */
int wh_health_checker_update(wh_health_checker *hc, const wh_runtime *rt,
                             const wh_static_config *stat);

/* The same in steps, for callers without a runtime (tests): begin, add each
 * service (cfg and tls borrowed for the call; tls: the service's transport's
 * options as the data plane compiles them, `http` unused; insecure: skip TLS
 * verification; tls NULL: the system roots), commit. A service added twice
 * keeps the first. */
void wh_health_checker_begin(wh_health_checker *hc);
int wh_health_checker_add(wh_health_checker *hc, const char *service, const wh_lb_service *cfg,
                          bool insecure);
int wh_health_checker_add_tls(wh_health_checker *hc, const char *service, const wh_lb_service *cfg,
                              const wh_tls_client_opts *tls);
void wh_health_checker_commit(wh_health_checker *hc);

/* Number of servers being probed. */
size_t wh_health_checker_ntargets(const wh_health_checker *hc);

/* Cancels probes and closes the handles; the checker frees itself once the
 * loop has run their close callbacks. NULL-safe. */
void wh_health_checker_close(wh_health_checker *hc);

#endif
